"""The image automation loop: scan registries, pick tags, commit them to Git.

Every ``poll_interval`` seconds one pass lists ImagePolicies in the app
namespace and scans those that are due (``spec.interval`` since the last scan,
a changed spec, or a registry push announced with ``registry_push``). A scan:

1. parses the spec (``InvalidSpec``) and checks tenancy (``ProjectDenied``):
   the project exists and allows the write-back repository; registry Secrets
   are read from the policy's own namespace only, Git credentials are the
   project's (a repository Secret whose ``project`` key names it);
2. lists tags (cached per repository for the pass, so policies sharing a
   repository cost one listing) and chooses one;
3. writes the tag to Git with retries on a moved branch; a commit to the
   branch apps track refreshes those apps at once (``on_commit``), so the sync
   follows without waiting for their Git poll.

Listing and Git work block, so they run in threads; one slow registry delays
only its own policies. Status says what was chosen and committed; an Event
``ImageUpdated`` is recorded on the policy for every commit and ``on_update``
listeners (notifications) hear of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from tether.adapters import git
from tether.adapters.git.signing import SigningKey
from tether.adapters.git.writeback import GitWriter, WriteResult
from tether.adapters.kube import ApiError, KubeClient
from tether.adapters.kube import events as kube_events
from tether.controller.images.pullrequests import PullRequests
from tether.controller.images.tags import PolicyRegistry, ScanError
from tether.controller.loops import PeriodicLoop, ServedKind, api_error
from tether.controller.projects import ProjectSource
from tether.engine import projects
from tether.engine.images import markers, plan, select
from tether.engine.images import spec as model
from tether.engine.objects import Obj
from tether.engine.registry.spec import parse_duration

log = logging.getLogger(__name__)

COMPONENT = "tether-image-automation"
MAX_DIFF = 20_000
SCAN_ANNOTATION = "tether.dev/scan-requested"  # ``tether image scan``: scan now
Credentials = Callable[[str, str], Awaitable[git.GitCredentials | None]]


@dataclass(frozen=True)
class ImageUpdate:
    """A tag committed to Git (what notifications and listeners receive)."""

    namespace: str
    policy: str
    image: str
    tag: str
    old_tag: str
    repo_url: str
    branch: str
    sha: str
    files: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class ImageMetrics:
    scans: int = 0
    commits: int = 0
    push_retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)


class ImageAutomationCollector(Collector):
    """``tether_image_*`` counters for /metrics."""

    def __init__(self, reconciler: ImageAutomationReconciler) -> None:
        self.reconciler = reconciler

    def collect(self) -> Iterator[CounterMetricFamily]:
        m = self.reconciler.metrics
        for name, text, value in (
            ("tether_image_scans", "ImagePolicy scans", m.scans),
            ("tether_image_commits", "Image updates committed to Git", m.commits),
            ("tether_image_push_retries", "Pushes retried after a moved branch", m.push_retries),
        ):
            family = CounterMetricFamily(name, text)
            family.add_metric([], value)
            yield family
        failures = CounterMetricFamily(
            "tether_image_scan_failures", "Failed ImagePolicy scans by reason", labels=["reason"]
        )
        for reason, value in sorted(m.failures.items()):
            failures.add_metric([reason], value)
        yield failures


@dataclass
class _Memory:
    scanned_at: float = 0.0
    generation: object = None
    asked: object = None


class ImageAutomationReconciler:
    """Runs inside the Controller's asyncio loop: ``await start()`` ... ``await stop()``."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        workdir: Path,
        credentials: Credentials,
        projects: ProjectSource,
        app_namespace: str = "tether",
        poll_interval: float = 5.0,
        on_commit: Callable[[str], object] | None = None,
    ) -> None:
        self.kube = kube
        self.app_namespace = app_namespace
        self.poll_interval = poll_interval
        self.writer = GitWriter(workdir)
        self.registry = PolicyRegistry(kube)
        self.pull_requests = PullRequests(self.registry.secret)
        self.credentials = credentials
        self.projects = projects
        self.on_commit = on_commit
        self.listeners: list[Callable[[ImageUpdate], None]] = []
        self._memory: dict[str, _Memory] = {}
        self._loop = PeriodicLoop(
            "image-automation", lambda: self.run_once(), lambda: self.poll_interval
        )
        self._pushed: set[str] = set()
        self._served = ServedKind(kube, model.API_VERSION, model.KIND)
        self.metrics = ImageMetrics()

    # -- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def registry_push(self, image: str) -> None:
        """A registry announced a push to ``image`` (``host/repo``): scan its policies now."""
        self._pushed.add(model.repository_key(image))
        self._loop.wake()

    # -- one pass -----------------------------------------------------------
    async def run_once(self, *, force: bool = False) -> None:
        api = await self._served.api()
        if api is None:
            return
        policies, _ = await self.kube.list(api, self.app_namespace)
        pushed, self._pushed = self._pushed, set()
        listings: dict[tuple[str, str], asyncio.Task[list[select.Tag]]] = {}
        now = time.monotonic()
        due = [p for p in policies if force or self._due(p, now, pushed)]
        await asyncio.gather(*(self._guarded(p, listings) for p in due))
        live = {str(p["metadata"]["name"]) for p in policies}
        for gone in set(self._memory) - live:
            del self._memory[gone]

    def _due(self, policy: Obj, now: float, pushed: set[str]) -> bool:
        name = str(policy["metadata"]["name"])
        memory = self._memory.setdefault(name, _Memory())
        spec = policy.get("spec") or {}
        asked = (policy["metadata"].get("annotations") or {}).get(SCAN_ANNOTATION)
        if memory.generation != policy["metadata"].get("generation") or asked != memory.asked:
            return True
        if model.repository_key(str(spec.get("image", ""))) in pushed:
            return True
        try:
            interval = parse_duration(spec.get("interval", "1m")).total_seconds()
        except ValueError:
            interval = 60.0
        return now - memory.scanned_at >= interval

    async def _guarded(
        self, policy: Obj, listings: dict[tuple[str, str], asyncio.Task[list[select.Tag]]]
    ) -> None:
        name = str(policy["metadata"]["name"])
        memory = self._memory.setdefault(name, _Memory())
        memory.scanned_at = time.monotonic()
        memory.generation = policy["metadata"].get("generation")
        memory.asked = (policy["metadata"].get("annotations") or {}).get(SCAN_ANNOTATION)
        try:
            await self.reconcile(policy, listings)
            self.metrics.scans += 1
        except ScanError as exc:
            self.metrics.scans += 1
            self.metrics.failures[exc.reason] = self.metrics.failures.get(exc.reason, 0) + 1
            await self._fail(policy, exc.reason, exc.message)
        except ApiError as exc:
            log.warning("image policy %s failed: %s", name, api_error(exc))
        except Exception:
            log.exception("image policy %s failed", name)

    async def reconcile(
        self,
        policy: Obj,
        listings: dict[tuple[str, str], asyncio.Task[list[select.Tag]]] | None = None,
    ) -> WriteResult | None:
        """Scan one policy and write its tag; raises ScanError with a reason."""
        meta = policy["metadata"]
        namespace, name = str(meta.get("namespace") or self.app_namespace), str(meta["name"])
        try:
            spec = model.parse_spec(policy.get("spec") or {})
        except model.SpecError as exc:
            raise ScanError("InvalidSpec", f"ImagePolicy {name}: {exc}") from None
        if spec.suspend:
            return None
        wb = spec.write_back
        try:
            project = await self.projects.get(spec.project)
        except projects.ProjectError as exc:
            raise ScanError("ProjectDenied", f"ImagePolicy {name}: {exc}") from None
        if not projects.repo_allowed(project, wb.repo_url):
            raise ScanError(
                "ProjectDenied",
                f"ImagePolicy {name}: repository {wb.repo_url} is not in the sourceRepos "
                f"of project {spec.project}",
            )
        key = (spec.host, spec.repository)
        listings = {} if listings is None else listings
        if key not in listings:
            listings[key] = asyncio.ensure_future(self.registry.tags(spec, namespace))
        tags = await listings[key]
        if spec.policy.kind == "pushTime" and spec.ecr is None:
            # a v2 registry keeps no push times: read the build time of the kept tags only
            kept = [tag for _, tag in select.filtered(tags, spec.filter_tags)]
            tags = await self.registry.with_build_times(spec, namespace, kept)
        choice = select.choose(tags, spec.filter_tags, spec.policy)
        status: dict[str, Any] = {
            "observedGeneration": meta.get("generation"),
            "lastScanTime": kube_events.now_iso(),
            "tagsFound": len(tags),
            "candidates": choice.candidates,
        }
        if choice.tag is None:
            await self._status(policy, status, "False", "NoMatchingTag", choice.reason)
            return None
        tag = choice.tag
        digest = tag.digest
        if spec.digest_pinning and not digest:
            digest = await self.registry.digest(spec, namespace, tag.name)
        target = markers.Target(namespace, name, spec.image, tag.name, digest, spec.digest_pinning)
        status.update(latestTag=tag.name, latestImage=target.value())
        if digest:
            status["latestDigest"] = digest
        creds = await self.credentials(wb.repo_url, spec.project)
        signing_key = None
        if wb.commit.signing_key_secret_ref is not None:
            ref = wb.commit.signing_key_secret_ref.name
            data = await self.registry.secret(namespace, ref)
            # git.asc and passphrase are Flux's names for an armored OpenPGP key
            armored = data.get("git.asc") or data.get("signingKey")
            if not armored:
                raise ScanError(
                    "BadSecret", f"Secret {namespace}/{ref} has no key git.asc or signingKey"
                )
            signing_key = SigningKey(armored, data.get("passphrase") or "")
        old_status = policy.get("status") or {}
        commit_message = plan.message(spec, target, namespace, name, old_status)
        try:
            result = await asyncio.to_thread(
                self.writer.write,
                wb.repo_url,
                branch=wb.branch,
                push_branch=wb.push_branch,
                plan=lambda files: plan.plan_edits(spec, target, files),
                message=commit_message,
                author=git.GitIdentity(wb.commit.author.name, wb.commit.author.email),
                paths=plan.paths(spec),
                credentials=creds,
                dry_run=wb.dry_run,
                signing_key=signing_key,
            )
        except markers.MarkerError as exc:
            raise ScanError("WriteBackFailed", str(exc)) from None
        except git.GitError as exc:
            raise ScanError("GitFailed", str(exc)) from None
        if wb.dry_run:
            status["dryRunDiff"] = result.diff[:MAX_DIFF]
        message = f"{target.value()} is in Git"
        if result.sha is not None:
            status["lastCommit"] = {
                "sha": result.sha,
                "branch": result.branch,
                "tag": tag.name,
                "time": kube_events.now_iso(),
            }
            message = f"committed {target.value()} to {result.branch} as {result.sha[:12]}"
            self.metrics.commits += 1
            self.metrics.push_retries += result.attempts - 1
            await self._committed(policy, spec, target, result, old_status)
        elif wb.dry_run:
            message = f"dry run: {len(result.edits)} file(s) would change for {target.value()}"
        if self.pull_requests.due(wb, result, old_status):
            try:
                pull, created = await self.pull_requests.sync(
                    wb, namespace, name, result, commit_message
                )
            except ScanError as exc:  # the commit is pushed: keep it in status, then fail
                await self._status(policy, status, "False", exc.reason, exc.message)
                raise
            status["pullRequest"] = pull
            verb = "opened" if created else "updated"
            message += f"; pull request #{pull['number']} {verb}"
            await self._event(
                policy,
                "PullRequestOpened" if created else "PullRequestUpdated",
                f"pull request #{pull['number']} {verb} for {pull['branch']} -> {wb.branch}: "
                f"{pull['url']}",
            )
        await self._status(policy, status, "True", "Succeeded", message)
        return result

    # -- results ------------------------------------------------------------
    async def _committed(
        self,
        policy: Obj,
        spec: model.ImagePolicySpec,
        target: markers.Target,
        result: WriteResult,
        old_status: dict[str, Any],
    ) -> None:
        assert result.sha is not None
        wb = spec.write_back
        update = ImageUpdate(
            target.namespace,
            target.policy,
            spec.image,
            target.tag,
            plan.old_tag(result.edits) or str(old_status.get("latestTag") or ""),
            wb.repo_url,
            result.branch,
            result.sha,
            tuple(e.path for e in result.edits),
        )
        await self._event(
            policy,
            "ImageUpdated",
            f"{spec.image} {update.old_tag or '?'} -> {target.tag}: committed "
            f"{result.sha[:12]} to {result.branch} ({', '.join(update.files)})",
        )
        if self.on_commit is not None and result.branch == wb.branch:
            self.on_commit(wb.repo_url)
        for listener in list(self.listeners):
            try:
                listener(update)
            except Exception:
                log.exception("image update listener failed")

    async def _fail(self, policy: Obj, reason: str, message: str) -> None:
        status = {
            "observedGeneration": policy["metadata"].get("generation"),
            "lastScanTime": kube_events.now_iso(),
        }
        previous = _ready(policy.get("status") or {})
        if previous.get("reason") != reason or previous.get("message") != message:
            await self._event(policy, reason, message, warning=True)
        await self._status(policy, status, "False", reason, message)

    async def _status(
        self, policy: Obj, status: dict[str, Any], ready: str, reason: str, message: str
    ) -> None:
        previous = _ready(policy.get("status") or {})
        since = previous.get("lastTransitionTime") if previous.get("status") == ready else None
        status["conditions"] = [
            {
                "type": "Ready",
                "status": ready,
                "reason": reason,
                "message": message[:1000],
                "lastTransitionTime": since or kube_events.now_iso(),
            }
        ]
        meta = policy["metadata"]
        try:
            await self.kube.merge_patch(
                model.API_VERSION,
                model.KIND,
                str(meta["name"]),
                {"status": status},
                str(meta.get("namespace") or self.app_namespace),
                subresource="status",
            )
        except ApiError as exc:
            log.warning("could not write status of ImagePolicy %s: %s", meta["name"], exc)

    async def _event(
        self, policy: Obj, reason: str, message: str, *, warning: bool = False
    ) -> None:
        event = kube_events.event_for(policy, reason, message, component=COMPONENT, warning=warning)
        await kube_events.record(self.kube, event)


def _ready(status: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
