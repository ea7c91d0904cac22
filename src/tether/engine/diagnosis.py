"""Why an application is not healthy: a root-cause chain and the next step.

Health says *that* something is wrong; people need *why* and *what to do*.
Starting at the application, the chain follows the object that decided the
health down the resource tree to the deepest failing object, then reads the
evidence Kubernetes left there (container states, conditions, Events, apply
errors) and, for registry trouble, the credential facts the caller knows::

    Degraded <- Deployment finance-api ProgressDeadlineExceeded
             <- Pod finance-api-7d9-x ImagePullBackOff
             <- "no basic auth credentials" pulling <image>
             <- imagePullSecret ecr-pull expired 3 h ago
             -> refresh the registry credential: `tether registry list`

Pure: the caller passes ``now``; secrets are described by metadata and the
registry hosts they cover, never by their values.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from tether.engine.health import HealthStatus
from tether.engine.health.causes import (
    Cause,
    classify_api_error,
    classify_pull,
    image_tag,
    parse_scheduler_message,
    registry_host,
    scheduling_next_step,
)
from tether.engine.health.pod import (
    PULL_REASONS,
    container_spec,
    container_statuses,
    last_termination,
    memory_limit,
    pull_detail,
)
from tether.engine.objects import (
    Obj,
    ObjectKey,
    conditions,
    event_message,
    events_for,
    spec_of,
)
from tether.engine.registry.spec import registry_matches
from tether.engine.tree import HISTORY, HOOK, MANAGED, ResourceTree, TreeNode


@dataclass(frozen=True)
class SyncError:
    """The API server's answer when applying one object failed."""

    key: ObjectKey
    message: str
    code: int = 0


@dataclass(frozen=True)
class CredentialFact:
    """What Tether knows about a registry credential it (or someone) maintains."""

    registry_pattern: str
    secret_name: str
    namespace: str
    expires_at: datetime | None = None
    last_error: str = ""
    last_error_since: datetime | None = None
    managed_by: str = ""


@dataclass(frozen=True)
class PullSecretInfo:
    """An existing image pull Secret: its name and the registry hosts it has entries for."""

    name: str
    namespace: str
    registries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Link:
    """One step of the chain: an object (or a piece of evidence) and why it fails."""

    kind: str
    name: str
    status: str
    reason: str
    cause: str
    headline: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Diagnosis:
    app: str
    status: HealthStatus
    chain: list[Link]
    next_step: str
    also: list[str] = field(default_factory=list)

    def to_text(self, verbose: bool = False) -> str:
        lines = [f"{self.status} app {self.app}"]
        for link in self.chain[1:]:
            lines.append(f"  <- {link.headline}")
            if verbose and link.cause and link.cause != link.headline:
                lines.append(f"       {link.cause}")
        if self.next_step:
            lines.append(f"  -> {self.next_step}")
        lines.extend(f"  also: {line}" for line in self.also)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "status": str(self.status),
            "chain": [link.to_json() for link in self.chain],
            "next_step": self.next_step,
            "also": list(self.also),
            "text": self.to_text(),
        }


def ago(then: datetime, now: datetime) -> str:
    seconds = int((now - then).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def object_link(node: TreeNode, reason: str = "") -> Link:
    health = node.health
    reason = reason or health.reason or str(health.status)
    subject = f"{node.key.kind} {node.key.name}"
    return Link(
        node.key.kind,
        node.key.name,
        str(health.status),
        reason,
        health.message,
        f"{subject} {reason}",
    )


def cause_link(cause: Cause, detail: str = "") -> Link:
    return Link(cause.kind, cause.name, "", cause.reason, detail or cause.headline, cause.headline)


@dataclass
class Context:
    app: str
    tree: ResourceTree
    events: Sequence[Obj]
    credentials: Sequence[CredentialFact]
    pull_secrets: Sequence[PullSecretInfo] | None
    now: datetime


def diagnose(
    app: str,
    status: HealthStatus,
    tree: ResourceTree,
    *,
    now: datetime,
    events: Sequence[Obj] = (),
    sync_errors: Sequence[SyncError] = (),
    credentials: Sequence[CredentialFact] = (),
    pull_secrets: Sequence[PullSecretInfo] | None = None,
) -> Diagnosis:
    """The root-cause chain of ``app`` (aggregated health ``status``) over its ``tree``.

    ``pull_secrets`` lists the image pull Secrets that exist (None: unknown).
    """
    ctx = Context(app, tree, events, credentials, pull_secrets, now)
    chain = [Link("App", app, str(status), "", "", f"{status} app {app}")]
    errors = {(e.key.group, e.key.kind, e.key.name): e for e in sync_errors}
    managed = tree.by_role(MANAGED)

    def rank(node: TreeNode) -> tuple[int, int]:
        failed_apply = (node.key.group, node.key.kind, node.key.name) in errors
        severity = node.health.status.severity
        if failed_apply:
            severity = max(severity, HealthStatus.DEGRADED.severity)
        return severity, int(failed_apply)

    failing = [n for n in managed if rank(n) > (0, 0)]
    failing.sort(key=rank, reverse=True)
    # A failed hook (a migration Job) is why the sync stopped: it goes first.
    failing = [n for n in tree.by_role(HOOK) if n.health.status is HealthStatus.DEGRADED] + failing
    if not failing:
        return Diagnosis(app, status, chain, "nothing to do: every resource is healthy")
    first, *rest = failing
    error = errors.get((first.key.group, first.key.kind, first.key.name))
    if first.role == HOOK:
        link = object_link(first)
        chain.append(replace(link, headline=f"{first.note} {link.headline}"))
    else:
        chain.append(object_link(first, "SyncFailed" if error else ""))
    next_step = explain_node(ctx, first, error, chain)
    also = [f"{n.key.kind} {n.key.name}: {n.health.reason or n.health.status}" for n in rest]
    for err in sync_errors:
        if not any((n.key.kind, n.key.name) == (err.key.kind, err.key.name) for n in managed):
            also.append(f"{err.key.kind} {err.key.name}: apply failed: {err.message}")
    return Diagnosis(app, status, without_repeats(chain), next_step, also)


def explain_node(ctx: Context, node: TreeNode, error: SyncError | None, chain: list[Link]) -> str:
    """Extends the chain below ``node`` and returns the next step."""
    if error is not None:
        cause = classify_api_error(error.message, error.code, node.key.kind, node.key.namespace)
        chain.append(cause_link(cause, error.message))
        return cause.next_step
    if node.health.status is HealthStatus.MISSING:
        chain.append(Link(node.key.kind, node.key.name, "", "NotCreated", "", "not created yet"))
        return f"sync the app: `tether app sync {ctx.app}`"
    child = failing_child(ctx.tree, node)
    if child is not None:
        if not skippable(child) or not failing_child(ctx.tree, child):
            chain.append(object_link(child))
        return explain_node(ctx, child, None, chain)
    obj = ctx.tree.objects.get(node.id)
    if obj is None:
        return generic_step(node)
    if node.key.kind == "Pod":
        return explain_pod(ctx, obj, node, chain)
    if node.key.kind == "ReplicaSet" and node.health.reason not in ("", "RolloutInProgress"):
        cause = classify_api_error(node.health.message, 0, "Pod", node.key.namespace)
        chain.append(cause_link(cause, node.health.message))
        return cause.next_step
    return explain_by_events(ctx, obj, node, chain)


def skippable(node: TreeNode) -> bool:
    """A ReplicaSet that only waits for its Pods adds nothing to the story."""
    return node.key.kind == "ReplicaSet" and node.health.reason in ("RolloutInProgress", "")


def failing_child(tree: ResourceTree, node: TreeNode) -> TreeNode | None:
    children = [c for c in tree.children(node.id) if c.health.status is not HealthStatus.HEALTHY]
    current = [c for c in children if c.role != HISTORY] or children
    current.sort(key=lambda c: c.health.status.severity, reverse=True)
    return current[0] if current else None


def generic_step(node: TreeNode) -> str:
    ns = f" -n {node.key.namespace}" if node.key.namespace else ""
    return f"inspect it: `kubectl describe {node.key.kind.lower()} {node.key.name}{ns}`"


def explain_by_events(ctx: Context, obj: Obj, node: TreeNode, chain: list[Link]) -> str:
    warnings = [e for e in events_for(obj, ctx.events) if e.get("type") == "Warning"]
    if warnings:
        latest = warnings[-1]
        text = event_message(latest)
        reason = str(latest.get("reason", ""))
        chain.append(Link("Event", reason, "", reason, text, f"{reason}: {text}"))
    return generic_step(node)


def explain_pod(ctx: Context, pod: Obj, node: TreeNode, chain: list[Link]) -> str:
    reason = node.health.reason
    if reason in PULL_REASONS:
        return explain_pull(ctx, pod, chain)
    if reason in ("CrashLoopBackOff", "OOMKilled", "Error") or reason.startswith("Exit"):
        return explain_exit(pod, node, chain)
    if reason == "Unschedulable":
        return explain_unschedulable(ctx, pod, chain)
    if reason == "ReadinessProbeFailed":
        probe = node.health.message.split(": ", 1)[-1]
        chain.append(Link("Probe", "readiness", "", reason, probe, probe))
        return "fix the readiness endpoint, or the readinessProbe path/port/timing in Git"
    return explain_by_events(ctx, pod, node, chain)


def explain_exit(pod: Obj, node: TreeNode, chain: list[Link]) -> str:
    for cs in container_statuses(pod):
        term = last_termination(cs)
        if not term or term.get("exitCode") in (0, None):
            continue
        name = str(cs.get("name", ""))
        why = str(term.get("reason") or "Error")
        if why == "OOMKilled":
            limit = memory_limit(pod, name)
            words = f"container {name} OOMKilled at memory limit {limit or '(none)'}"
            chain.append(Link("Container", name, "", "OOMKilled", node.health.message, words))
            if limit:
                return f"raise the memory limit above {limit} in Git (or make the app use less)"
            return "set a memory limit and request that fit the app in Git, or add node memory"
        words = f"container {name} exits with code {term.get('exitCode')} ({why})"
        chain.append(Link("Container", name, "", why, node.health.message, words))
        said = str(term.get("message") or "").strip()
        if said:  # the termination message: the log tail under FallbackToLogsOnError
            tail = " | ".join(said.splitlines()[-5:])
            chain.append(Link("Log", name, "", "LogTail", said, f"log tail: {tail}"))
        ns = (pod.get("metadata") or {}).get("namespace", "")
        pod_name = (pod.get("metadata") or {}).get("name", "")
        return (
            f"read why it exits: `kubectl logs -n {ns} {pod_name} -c {name} --previous`, "
            "then fix the app or its config in Git"
        )
    return generic_step(node)


def scheduler_message(ctx: Context, pod: Obj) -> str:
    """The scheduler's verdict: its newest FailedScheduling Event, else the PodScheduled condition.

    Both carry the same text from the real scheduler; the Event is what
    ``kubectl describe`` shows and is there even while the condition lags.
    """
    for event in reversed(events_for(pod, ctx.events)):
        if event.get("reason") == "FailedScheduling" and event_message(event):
            return event_message(event)
    return str((conditions(pod).get("PodScheduled") or {}).get("message", ""))


def explain_unschedulable(ctx: Context, pod: Obj, chain: list[Link]) -> str:
    message = scheduler_message(ctx, pod)
    verdict = parse_scheduler_message(message)
    chain.append(
        Link("Scheduler", "", "", "FailedScheduling", message, f"scheduler: {verdict.summary}")
    )
    requests: dict[str, str] = {}
    for container in spec_of(pod).get("containers") or []:
        for resource, value in ((container.get("resources") or {}).get("requests") or {}).items():
            requests.setdefault(str(resource), str(value))
    selector = ", ".join(f"{k}={v}" for k, v in (spec_of(pod).get("nodeSelector") or {}).items())
    return scheduling_next_step(verdict.dominant, requests, selector)


def explain_pull(ctx: Context, pod: Obj, chain: list[Link]) -> str:
    image = ""
    for cs in container_statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in PULL_REASONS:
            image = str(cs.get("image") or container_spec(pod, str(cs.get("name"))).get("image"))
            detail = pull_detail(pod, cs, ctx.events)
            break
    else:
        return "check the image reference in Git"
    category, phrase = classify_pull(detail)
    host = registry_host(image)
    chain.append(Link("Image", image, "", category, detail, f'"{phrase}" pulling {image}'))
    if category == "not_found":
        return f"push tag {image_tag(image)} of {image} to {host}, or fix the image tag in Git"
    if category == "network":
        return f"check DNS and network from the nodes to {host}"
    if category != "auth":
        return f"check the image reference {image} in Git and the registry {host}"
    return explain_pull_auth(ctx, pod, host, chain)


def explain_pull_auth(ctx: Context, pod: Obj, host: str, chain: list[Link]) -> str:
    ns = str((pod.get("metadata") or {}).get("namespace", ""))
    names = [str(s.get("name")) for s in spec_of(pod).get("imagePullSecrets") or []]
    absent = missing_secrets(ctx, pod, names, ns)
    if absent:
        words = f"imagePullSecret {absent[0]} does not exist in namespace {ns}"
        chain.append(Link("Secret", absent[0], "", "SecretMissing", words, words))
        return f"create the Secret {absent[0]} in {ns} (`tether registry list` shows managed ones)"
    if not names:
        words = f"the Pod has no imagePullSecret for {host}"
        chain.append(Link("Secret", "", "", "NoPullSecret", words, words))
        return f"add an imagePullSecret for {host} to the Pod or its ServiceAccount in Git"
    for fact in ctx.credentials:
        if fact.namespace != ns or fact.secret_name not in names:
            continue
        if not registry_matches(fact.registry_pattern, host):
            continue
        return explain_credential(ctx, fact, chain)
    if ctx.pull_secrets is not None:
        known = [s for s in ctx.pull_secrets if s.namespace == ns and s.name in names]
        if known and not any(h == host for s in known for h in s.registries):
            covered = ", ".join(sorted({h for s in known for h in s.registries})) or "no registry"
            words = f"imagePullSecret {known[0].name} has credentials for {covered}, not {host}"
            chain.append(Link("Secret", known[0].name, "", "WrongRegistry", words, words))
            return f"add credentials for {host} to the pull secret, or fix the image registry"
    words = f"{host} rejected the credentials in imagePullSecret {names[0]}"
    chain.append(Link("Secret", names[0], "", "CredentialsRejected", words, words))
    return "check the registry credential and its permissions: `tether registry list`"


def missing_secrets(ctx: Context, pod: Obj, names: list[str], ns: str) -> list[str]:
    for event in events_for(pod, ctx.events):
        if event.get("reason") == "FailedToRetrieveImagePullSecret" or event_message(
            event
        ).startswith("Unable to retrieve some image pull secrets"):
            text = event_message(event)
            inside = text[text.find("(") + 1 : text.find(")")] if "(" in text else ""
            return [n.strip() for n in inside.split(",") if n.strip()] or names[:1]
    if ctx.pull_secrets is None:
        return []
    present = {s.name for s in ctx.pull_secrets if s.namespace == ns}
    return [n for n in names if n not in present]


def explain_credential(ctx: Context, fact: CredentialFact, chain: list[Link]) -> str:
    owner = f" (managed by {fact.managed_by})" if fact.managed_by else ""
    step = f"refresh the registry credential{owner}: `tether registry list`"
    failing = ""
    if fact.last_error:
        since = f" since {ago(fact.last_error_since, ctx.now)} ago" if fact.last_error_since else ""
        failing = f"; refresh failing{since}: {fact.last_error}"
    if fact.expires_at is not None and fact.expires_at <= ctx.now:
        words = f"imagePullSecret {fact.secret_name} expired {ago(fact.expires_at, ctx.now)} ago"
        chain.append(Link("Secret", fact.secret_name, "", "Expired", words + failing, words))
        return step
    if failing:
        words = f"imagePullSecret {fact.secret_name} is not being refreshed{failing}"
        chain.append(Link("Secret", fact.secret_name, "", "RefreshFailing", words, words))
        return step
    words = f"the registry rejected the credentials in imagePullSecret {fact.secret_name}"
    chain.append(Link("Secret", fact.secret_name, "", "CredentialsRejected", words, words))
    return f"check the credential's permissions on the registry: `tether registry list`{owner}"


def without_repeats(chain: list[Link]) -> list[Link]:
    """Each link says only what the links below it do not: a Deployment's message
    quotes its failing Pod's, which quotes the pull error, and the chain reads
    better when every fact appears once, at its deepest link."""
    out: list[Link] = []
    for index, link in enumerate(chain):
        cause = link.cause
        for later in chain[index + 1 :]:
            if later.cause and later.cause in cause and later.cause != cause:
                cause = cause.replace(later.cause, "").strip(" :;.-")
        out.append(replace(link, cause=cause) if cause != link.cause else link)
    return out
