"""From an Application's source to rendered objects: resolve, read, render.

Git and the renderers block, so they run in worker threads (``pools``:
a bounded pool each, one Git thread per repository at a time, and no app
waiting long behind another's call: ``gate``). A failed remote listing
is remembered for the same window as a successful one, and for as long as the
next attempt is still at the server, so one silent or slow Git server costs
one thread and one reconcile at a time, every app of it says why within about
one timeout, and it cannot starve the other repositories, the renderers or the
rest of the controller.

Renders are cached by (repo, commit, path, options), and a new commit that
does not touch an app's path reuses that app's previous render: in a monorepo
one commit re-renders only the apps it changed.

A source that names a ``chart`` comes from a chart repository instead of Git
(``chart``); an ``oci://`` source without one is an OCI artifact of
manifests (``artifact``), whose files render like a Git tree.

Local paths and ``file://`` URLs read the controller's own filesystem, so
they are refused unless the controller was started with local repositories
allowed.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Set as AbstractSet
from typing import Any

from tether.adapters import charts, git
from tether.adapters.render import RenderCache
from tether.adapters.render.jsonnet import is_jsonnet_file
from tether.adapters.render.tree import RepoTree, names_under
from tether.controller import ref_values
from tether.controller.artifacts import ArtifactSources
from tether.controller.charts import ChartSources
from tether.controller.sources.artifact import ArtifactSource
from tether.controller.sources.chart import ChartSource
from tether.controller.sources.gate import RepositoryBusy
from tether.controller.sources.memo import Memo, RenderMemos, RenderResult, SourceStats
from tether.controller.sources.multi import MULTI_SEPARATOR, MultiSources
from tether.controller.sources.pools import GIT_WORKERS, RENDER_WORKERS, WorkPools
from tether.engine.application import ApplicationSpec
from tether.engine.credentials import strip_userinfo

__all__ = ["FRESH_WINDOW", "LocalRepositoryError", "RenderResult", "SourceStats", "Sources"]

FRESH_WINDOW = 1.0


class LocalRepositoryError(git.GitError):
    """A local path or file:// repository, refused outside --allow-local-repos."""


class Sources:
    def __init__(
        self,
        repos: git.RepoCache,
        *,
        helm_path: str | None = None,
        kubectl_path: str | None = None,
        max_age: float = 30.0,
        allow_local_repos: bool = False,
        git_workers: int = GIT_WORKERS,
        render_workers: int = RENDER_WORKERS,
    ) -> None:
        self.repos = repos
        self.allow_local_repos = allow_local_repos
        self.pools = WorkPools(git_workers=git_workers, render_workers=render_workers)
        self._failed: dict[tuple[str, str], tuple[float, git.GitError]] = {}
        self._retries: dict[tuple[str, str], asyncio.Task[str]] = {}
        self.renders = RenderCache(max_entries=16)  # per-app memos below do the real reuse
        self._resolved: dict[tuple[str, str], tuple[float, str]] = {}
        self._pushed: dict[str, float] = {}  # repository -> when its last push arrived
        self._trees: OrderedDict[tuple[str, str], dict[str, bytes]] = OrderedDict()
        self.helm_path = helm_path
        self.kubectl_path = kubectl_path
        self.max_age = max_age
        self.stats = SourceStats()
        self._memo = RenderMemos()
        self._lock = threading.Lock()
        self.charts = ChartSources(charts.ChartFetcher(repos.cache_dir.parent / "charts"))
        self.artifacts = ArtifactSources(self.charts.fetcher.store)
        self.chart_source = ChartSource(
            self.charts, self.pools, self._memo, self.stats, helm_path=helm_path
        )
        self.artifact_source = ArtifactSource(self.artifacts, self.chart_source)
        self.multi = MultiSources(self)

    async def resolve(
        self,
        spec: ApplicationSpec,
        revision: str | None,
        credentials: git.GitCredentials | None,
        *,
        since: float | None = None,
    ) -> str:
        """The commit ``revision`` names, listing the remote at most once per ``max_age``.

        ``since`` (a ``time.monotonic()`` reading: when a new app, a requested sync or
        a push was seen) asks for a listing started no earlier than FRESH_WINDOW before
        it. Measured from the event, not from the reconcile, so a burst of them on one
        repository costs one listing however long the queue takes to reach them all.
        """
        if len(spec.sources) > 1:
            return await self.multi.resolve(spec, revision, since=since)
        self.stats.resolves += 1
        url = spec.source.repo_url
        max_age = self.max_age_since(since)
        if spec.source.is_chart:
            return await self.chart_source.resolve(spec, revision, credentials, max_age)
        if spec.source.is_artifact:
            return await self.artifact_source.resolve(spec, revision, credentials, max_age)
        self.check_url(url)
        target = revision or spec.source.target_revision or "HEAD"
        memo_key = (git.cache_key(url), target)
        failed = self._failed.get(memo_key)
        if failed is not None and (self.pools.gates.busy(url) or since is None):
            # The last listing failed: it stands for every app until the repository
            # answers. The next attempt runs once for all of them, in the background for
            # a routine pass, so no app waits a hung server's timeout out to say so.
            if time.monotonic() - failed[0] > max_age and not self.pools.gates.busy(url):
                self._retry(memo_key, url, target, credentials, max_age)
            raise failed[1]
        try:
            return await self._list(memo_key, url, target, credentials, max_age)
        except RepositoryBusy:
            known = self._resolved.get(memo_key)
            if since is not None and known is not None and time.monotonic() - known[0] > max_age:
                # The app comes back as a routine pass, which would take this older
                # listing: drop it, so that pass still sees what was asked for.
                self._resolved.pop(memo_key, None)
                self.repos.forget_heads(url)
            raise

    async def _list(
        self,
        memo_key: tuple[str, str],
        url: str,
        target: str,
        credentials: git.GitCredentials | None,
        max_age: float,
    ) -> str:
        """List the remote in its repository's turn, unless one within ``max_age`` answers."""
        async with self.pools.gate(url):
            pushed = self._pushed.get(memo_key[0])
            if pushed is not None:
                # A listing that started before the last push cannot hold it (one still
                # running when the push arrived finishes after it, and would else answer).
                max_age = min(max_age, time.monotonic() - pushed)
            known = self._resolved.get(memo_key)
            if known is not None and time.monotonic() - known[0] <= max_age:
                return known[1]
            failed = self._failed.get(memo_key)
            if failed is not None and time.monotonic() - failed[0] <= max_age:
                raise failed[1]
            started = time.monotonic()
            try:
                sha = await self.pools.git(self.repos.resolve, url, target, credentials, max_age)
            except git.GitError as exc:
                self.stats.fetch_errors += 1
                # Timed from the failure, not the start: a listing that hung for the idle
                # timeout would otherwise be stale at once, and every app queued behind it
                # would hang the timeout out again, one after another, saying nothing.
                self._failed[memo_key] = (time.monotonic(), exc)
                raise
            self._failed.pop(memo_key, None)
            self._resolved[memo_key] = (started, sha)
            return sha

    def _retry(
        self,
        memo_key: tuple[str, str],
        url: str,
        target: str,
        credentials: git.GitCredentials | None,
        max_age: float,
    ) -> None:
        """List again in the background, once at a time per revision; the outcome is kept."""
        if memo_key in self._retries:
            return
        task = asyncio.create_task(
            self._list(memo_key, url, target, credentials, max_age), name=f"git-retry {target}"
        )
        self._retries[memo_key] = task

        def done(task: asyncio.Task[str]) -> None:
            self._retries.pop(memo_key, None)
            if not task.cancelled():
                task.exception()  # remembered in _failed (or the repository was busy)

        task.add_done_callback(done)

    def check_url(self, url: str) -> None:
        """LocalRepositoryError for a local path or file:// URL unless local repos are allowed."""
        if not self.allow_local_repos and git.is_local(url.strip()):
            raise LocalRepositoryError(
                f"repoURL '{strip_userinfo(url)}' is a local path or file:// URL, which reads "
                "the controller's own filesystem: refused (start the controller with "
                "--allow-local-repos to allow it)"
            )

    def close(self) -> None:
        """Stop the worker pools (running Git and render calls finish on their own)."""
        for task in list(self._retries.values()):
            task.cancel()
        self.pools.close()

    async def render(
        self,
        app_key: str,
        spec: ApplicationSpec,
        sha: str,
        credentials: git.GitCredentials | None,
        *,
        app_name: str,
        refs: ref_values.RefFiles | None = None,
    ) -> RenderResult:
        """Git work (what changed, the files) in the Git pool, the render in the render pool.

        ``refs`` are the files of the other sources' ``ref``s (multi-source apps),
        for ``$ref/...`` value files.
        """
        if len(spec.sources) > 1:
            return await self.multi.render(app_key, spec, sha, app_name=app_name)
        url = spec.source.repo_url
        source: dict[str, Any] = spec.source.model_dump(by_alias=True, exclude_none=True)
        refs_digest = ""
        if ref_values.uses_refs(source):
            refs_digest = ref_values.inject(source, {}, "", refs or {})[2]
        options = repr(sorted(source.items())) + refs_digest
        memo = self._memo.get(app_key)
        if spec.source.is_chart:
            return await self.chart_source.render(
                app_key, spec, sha, credentials, options, app_name, refs
            )
        if spec.source.is_artifact:
            if memo and memo.options == options and memo.sha == sha:
                return memo.reused()
            files = await self.artifact_source.files(spec, sha, credentials, self.max_age)
            return await self._render_files(app_key, spec, sha, files, source, refs, app_name)
        self.check_url(url)
        if memo and memo.options == options:
            if memo.sha == sha:
                return memo.reused()
            async with self.pools.gate(url):
                changed = await self.pools.git(
                    self.repos.changed_paths, url, memo.sha, sha, credentials
                )
            outside = memo.whole_repo and bool(changed)
            if not changed.touches(spec.source.path) and not (
                outside or _touches_outside(changed, spec)
            ):
                self.stats.reuses += 1
                self._memo.put(app_key, Memo(sha, options, memo.packed, memo.whole_repo))
                return RenderResult(sha, memo.objects, rendered=False)
        async with self.pools.gate(url):
            files = await self.pools.git(self._files, url, sha, credentials)
        return await self._render_files(app_key, spec, sha, files, source, refs, app_name)

    async def _render_files(
        self,
        app_key: str,
        spec: ApplicationSpec,
        sha: str,
        files: dict[str, bytes],
        source: dict[str, Any],
        refs: ref_values.RefFiles | None,
        app_name: str,
    ) -> RenderResult:
        """Render ``spec``'s path in a tree of files (a Git commit or an OCI artifact)."""
        url = spec.source.repo_url
        options = repr(sorted(source.items()))
        refs_digest = ""
        if ref_values.uses_refs(source):
            refs_digest = ref_values.inject(source, {}, "", refs or {})[2]
            options += refs_digest
        if not _has_path(files, spec.source.path):
            where = (
                f"{url} at {sha}"
                if spec.source.is_artifact
                else f"{git.cache_key(url)} at {sha[:12]}"
            )
            raise git.PathNotFoundError(f"path {spec.source.path!r} does not exist in {where}")
        files = await self.chart_source.with_dependencies(spec, files)
        if refs_digest:
            chart_path = "" if spec.source.path in ("", ".") else spec.source.path.strip("/")
            source, files, _ = ref_values.inject(source, files, chart_path, refs or {})
        self.stats.renders += 1
        objects = await self.pools.render(
            functools.partial(
                self.renders.render,
                url,
                f"{sha}+{refs_digest}" if refs_digest else sha,
                files,
                source,
                app_name=app_name,
                namespace=spec.destination.namespace,
                helm_path=self.helm_path,
                kubectl_path=self.kubectl_path,
            ),
        )
        return self._memo.rendered(
            app_key, sha, options, objects, whole_repo=_has_jsonnet(files, spec)
        )

    def _files(
        self, url: str, sha: str, credentials: git.GitCredentials | None
    ) -> dict[str, bytes]:
        """The repository's files at ``sha``, read once per commit for all its apps."""
        key = (git.cache_key(url), sha)
        with self._lock:
            files = self._trees.get(key)
            if files is not None:
                self._trees.move_to_end(key)
                return files
        files = RepoTree(self.repos.read_tree(url, sha, "", credentials))
        with self._lock:
            self._trees[key] = files
            while len(self._trees) > 2:
                self._trees.popitem(last=False)
        return files

    def git_credentials(self, url: str, project: str) -> git.GitCredentials | None:
        """Credentials of another source of a multi-source app, from the same Secrets."""
        secrets = self.charts.repository_secrets
        return git.credentials_for(url, secrets(), project) if secrets is not None else None

    async def files_at(
        self, url: str, sha: str, credentials: git.GitCredentials | None
    ) -> dict[str, bytes]:
        """A repository's files at one commit (for ``ref`` sources)."""
        self.check_url(url)
        async with self.pools.gate(url):
            return await self.pools.git(self._files, url, sha, credentials)

    def max_age_since(self, since: float | None) -> float:
        """How old a listing may be to answer for an event seen at ``since`` (monotonic)."""
        if since is None:
            return self.max_age
        return min(self.max_age, FRESH_WINDOW + max(0.0, time.monotonic() - since))

    def announce_push(self, url: str, at: float | None = None) -> None:
        """A webhook said ``url`` changed: the next resolve lists the remote once for all apps.

        ``at`` (monotonic) is when the push arrived, where another replica handed it on
        one app at a time: a push older than every listing since is already in them.
        """
        key = git.cache_key(url)
        at = time.monotonic() if at is None else at
        self._pushed[key] = max(at, self._pushed.get(key, at))
        listed = [started for (k, _), (started, _) in self._resolved.items() if k == key]
        if listed and min(listed) >= at:
            return
        self.repos.forget_heads(url)
        self.charts.forget(url)
        self.artifacts.forget(url)
        for memo_key in [k for k in self._resolved if k[0] == key]:
            self._resolved.pop(memo_key, None)
        for memo_key, (_, exc) in [(k, v) for k, v in self._failed.items() if k[0] == key]:
            # Tried again at once, but the failure stands until the server answers: a
            # host's webhooks may well work while its Git service hangs.
            self._failed[memo_key] = (float("-inf"), exc)

    def forget(self, app_key: str) -> None:
        self._memo.forget(app_key)

    async def commit_subject(
        self, url: str, sha: str, credentials: git.GitCredentials | None
    ) -> str:
        chart = self.charts.message(url, sha) or self.artifacts.message(url, sha)
        if chart is not None:
            return chart
        if MULTI_SEPARATOR in sha:
            return self.multi.message(sha)
        try:
            self.check_url(url)
            async with self.pools.gate(url):
                info = await self.pools.git(self.repos.commit_info, url, sha, credentials)
        except git.GitError:
            return ""
        return info.message.strip().splitlines()[0] if info.message.strip() else ""


def _has_path(files: dict[str, bytes], path: str) -> bool:
    if path in ("", "."):
        return True
    return path in files or bool(names_under(files, path.rstrip("/") + "/"))


def _has_jsonnet(files: dict[str, bytes], spec: ApplicationSpec) -> bool:
    path = spec.source.path.strip("/")
    prefix = "" if path in ("", ".") else path + "/"
    return any(is_jsonnet_file(name) for name in names_under(files, prefix))


def _touches_outside(changed: AbstractSet[str], spec: ApplicationSpec) -> bool:
    """Kustomize bases and helm value files may live outside the app path."""
    if spec.source.kustomize is not None or spec.source.helm is not None:
        return bool(changed)
    return False
