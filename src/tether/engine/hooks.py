"""Resource hooks: objects a sync creates at a moment of its own, not desired state.

A hook is marked by Argo CD's annotation (alias ``tether.dev/hook``)::

    argocd.argoproj.io/hook: PreSync | Sync | PostSync | SyncFail | PostDelete | Skip
    argocd.argoproj.io/hook-delete-policy: HookSucceeded,HookFailed,BeforeHookCreation

or by Helm's, mapped the way Argo CD maps them: ``pre-install``/``pre-upgrade``
run as PreSync, ``post-install``/``post-upgrade`` as PostSync, ``post-delete``
as PostDelete; ``crd-install`` is an ordinary resource; other Helm hooks
(``test``, ``pre-delete``, ``pre-rollback``, ``post-rollback``) are never run.
``helm.sh/hook-weight`` is the wave and ``helm.sh/hook-delete-policy``
(``hook-succeeded``, ``hook-failed``, ``before-hook-creation``) the policy.

Hooks are never part of the app's desired state: they are not compared, not
in the inventory and never pruned. ``Skip`` objects are not applied at all.
A hook's outcome is read from its health: a Job Complete or a Pod Succeeded
(any other kind: Healthy) is Succeeded; Degraded is Failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from tether.engine import objects
from tether.engine.health import HealthResult, HealthStatus
from tether.engine.objects import Obj, conditions, key_of, meta, status_of

HOOK_ANNOTATIONS = ("argocd.argoproj.io/hook", "tether.dev/hook")
POLICY_ANNOTATIONS = ("argocd.argoproj.io/hook-delete-policy", "tether.dev/hook-delete-policy")
HELM_HOOK = "helm.sh/hook"
HELM_POLICY = "helm.sh/hook-delete-policy"

PRE_SYNC = "PreSync"
SYNC = "Sync"
POST_SYNC = "PostSync"
SYNC_FAIL = "SyncFail"
POST_DELETE = "PostDelete"
SKIP = "Skip"
HOOK_TYPES = (PRE_SYNC, SYNC, POST_SYNC, SYNC_FAIL, POST_DELETE, SKIP)

HOOK_SUCCEEDED = "HookSucceeded"
HOOK_FAILED = "HookFailed"
BEFORE_HOOK_CREATION = "BeforeHookCreation"
POLICIES = (HOOK_SUCCEEDED, HOOK_FAILED, BEFORE_HOOK_CREATION)

HELM_TYPES = {
    "pre-install": PRE_SYNC,
    "pre-upgrade": PRE_SYNC,
    "post-install": POST_SYNC,
    "post-upgrade": POST_SYNC,
    "post-delete": POST_DELETE,
}
HELM_POLICIES = {
    "hook-succeeded": HOOK_SUCCEEDED,
    "hook-failed": HOOK_FAILED,
    "before-hook-creation": BEFORE_HOOK_CREATION,
}

# The hook outcome, in Argo CD's words (operationState.syncResult.resources[].hookPhase).
RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"


class HookError(ValueError):
    """A hook annotation Tether cannot read; nothing of the sync is applied."""


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _argo_annotation(obj: Obj, names: tuple[str, ...]) -> str | None:
    found = objects.annotations(obj)
    for name in names:
        if name in found:
            return str(found[name])
    return None


def hook_types(obj: Obj) -> list[str]:
    """The hook types of ``obj``; empty for an ordinary resource.

    A Helm hook Argo CD does not run (``test``...) gives ``[SKIP]``: it is
    neither applied nor part of the desired state.
    """
    argo = _argo_annotation(obj, HOOK_ANNOTATIONS)
    if argo is not None:
        types = _split(argo)
        unknown = [t for t in types if t not in HOOK_TYPES]
        if unknown:
            key = key_of(obj)
            raise HookError(
                f"{key.kind}/{key.name or meta(obj).get('generateName', '')}: unknown hook "
                f"{unknown[0]!r} (known: {', '.join(HOOK_TYPES)})"
            )
        return [SKIP] if SKIP in types else types
    helm = _split(str(objects.annotations(obj).get(HELM_HOOK) or ""))
    if not helm or helm == ["crd-install"]:
        return []
    mapped = sorted({HELM_TYPES[h] for h in helm if h in HELM_TYPES})
    return mapped or [SKIP]


def is_hook(obj: Obj) -> bool:
    return bool(hook_types(obj))


def marked(obj: Obj) -> str:
    """A live object's hook types as words ("" for an ordinary resource); never raises."""
    try:
        types = hook_types(obj)
    except HookError:
        return "hook"
    return ", ".join(types) if types and SKIP not in types else ""


def delete_policies(obj: Obj) -> list[str]:
    """The hook's delete policies (default BeforeHookCreation, as in Argo CD)."""
    argo = _argo_annotation(obj, POLICY_ANNOTATIONS)
    if argo is not None:
        found = [p for p in _split(argo) if p in POLICIES]
    else:
        helm = _split(str(objects.annotations(obj).get(HELM_POLICY) or ""))
        found = [HELM_POLICIES[h] for h in helm if h in HELM_POLICIES]
    return found or [BEFORE_HOOK_CREATION]


def deleted_after(obj: Obj, outcome: str) -> bool:
    """Whether the hook's delete policy deletes it once it has this outcome."""
    policies = delete_policies(obj)
    return (outcome == SUCCEEDED and HOOK_SUCCEEDED in policies) or (
        outcome == FAILED and HOOK_FAILED in policies
    )


def source_name(obj: Obj) -> str:
    """How the render names the hook: its name, or ``generateName`` followed by ``*``."""
    m = meta(obj)
    return str(m.get("name") or f"{m.get('generateName', '')}*")


@dataclass(frozen=True)
class Split:
    """A render divided into the app's desired objects, its hooks, and skipped objects."""

    resources: list[Obj]
    hooks: list[Obj]
    skipped: list[Obj]


def split(objects: list[Obj]) -> Split:
    resources: list[Obj] = []
    hooks: list[Obj] = []
    skipped: list[Obj] = []
    for obj in objects:
        types = hook_types(obj)
        if not types:
            resources.append(obj)
        elif SKIP in types:
            skipped.append(obj)
        else:
            hooks.append(obj)
    return Split(resources, hooks, skipped)


def of_type(hooks: list[Obj], hook_type: str) -> list[Obj]:
    return [h for h in hooks if hook_type in hook_types(h)]


def outcome(health: HealthResult) -> str:
    """Running, Succeeded or Failed, from the hook object's health."""
    if health.status is HealthStatus.HEALTHY:
        return SUCCEEDED
    if health.status is HealthStatus.DEGRADED:
        return FAILED
    return RUNNING


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line for line in text.strip().splitlines()[-lines:] if line.strip())


def failure_detail(hook: Obj, pods: list[Obj]) -> str:
    """Why a hook failed, in the cluster's words: the Job's Failed condition, then each
    failed Pod's container exit code and the tail of its termination message (the log
    tail, under ``terminationMessagePolicy: FallbackToLogsOnError``)."""
    parts: list[str] = []
    failed = conditions(hook).get("Failed") or {}
    if failed.get("status") == "True":
        reason = str(failed.get("reason") or "Failed")
        text = str(failed.get("message") or "")
        parts.append(f"{reason}: {text}" if text else reason)
    elif status_of(hook).get("phase") == "Failed":
        parts.append(str(status_of(hook).get("reason") or "Pod failed"))
    for pod in [hook] if hook.get("kind") == "Pod" else pods:
        for cs in status_of(pod).get("containerStatuses") or []:
            state = cs.get("state") or {}
            term = state.get("terminated") or (cs.get("lastState") or {}).get("terminated")
            if not isinstance(term, dict) or term.get("exitCode") in (0, None):
                continue
            words = (
                f"Pod {meta(pod).get('name')}: container {cs.get('name')} exited with code "
                f"{term.get('exitCode')} ({term.get('reason') or 'Error'})"
            )
            if term.get("message"):
                words += f"; log tail: {_tail(str(term['message']))}"
            parts.append(words)
    return "; ".join(parts) or "hook failed"
