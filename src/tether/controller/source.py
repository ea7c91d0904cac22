"""From an Application's source to rendered objects: resolve, read, render.

Git and the renderers block, so they run in worker threads, in two bounded
pools of their own (``GIT_WORKERS``, ``RENDER_WORKERS``) rather than the loop's
shared default executor. A repository gets at most one Git thread at a time
(an asyncio gate per repository; the others wait without holding a thread),
and a failed remote listing is remembered for the same window as a
successful one, so one silent or slow Git server costs one thread for at most
its timeout and cannot starve the other repositories, the renderers or the
rest of the controller.

Renders are cached by (repo, commit, path, options), and a new commit that
does not touch an app's path reuses that app's previous render: in a monorepo
one commit re-renders only the apps it changed.

A source that names a ``chart`` comes from a chart repository instead of
Git (``charts``): its revision is the chart version its constraint resolves
to, fetched over HTTP in the Git pool and rendered in the render pool.

Local paths and ``file://`` URLs read the controller's own filesystem, so
they are refused unless the controller was started with local repositories
allowed.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tether.adapters import charts, git
from tether.adapters.render import RenderCache, describe
from tether.adapters.render.jsonnet import is_jsonnet_file
from tether.controller import ref_values
from tether.controller.artifacts import ArtifactSources
from tether.controller.charts import ChartSources
from tether.controller.charts import missing_dependencies as charts_missing
from tether.controller.multi_source import MULTI_SEPARATOR, MultiSources
from tether.controller.packed import pack, unpack_list
from tether.engine.application import ApplicationSpec
from tether.engine.credentials import strip_userinfo
from tether.engine.objects import Obj

FRESH_WINDOW = 1.0
GIT_WORKERS = 4
RENDER_WORKERS = 2
T = TypeVar("T")


class LocalRepositoryError(git.GitError):
    """A local path or file:// repository, refused outside --allow-local-repos."""


@dataclass
class RenderResult:
    sha: str
    objects: list[Obj]
    rendered: bool  # False when an earlier render was reused
    message: str = ""


@dataclass
class SourceStats:
    renders: int = 0
    reuses: int = 0
    resolves: int = 0
    fetch_errors: int = 0
    fetch_seconds: list[float] = field(default_factory=list)


@dataclass
class _Memo:
    sha: str
    options: str
    packed: bytes  # the rendered objects, kept packed (controller.packed): one per app
    whole_repo: bool = False  # Jsonnet imports may read any file of the repository

    @property
    def objects(self) -> list[Obj]:
        """A fresh copy each time: what one pass does to it the next never sees."""
        return unpack_list(self.packed)


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
        self._git_pool = ThreadPoolExecutor(git_workers, thread_name_prefix="tether-git")
        self._render_pool = ThreadPoolExecutor(render_workers, thread_name_prefix="tether-render")
        self._gates: dict[str, asyncio.Semaphore] = {}
        self._failed: dict[tuple[str, str], tuple[float, git.GitError]] = {}
        self.renders = RenderCache(max_entries=16)  # per-app memos below do the real reuse
        self._resolved: dict[tuple[str, str], tuple[float, str]] = {}
        self._trees: OrderedDict[tuple[str, str], dict[str, bytes]] = OrderedDict()
        self.helm_path = helm_path
        self.kubectl_path = kubectl_path
        self.max_age = max_age
        self.stats = SourceStats()
        self._memo: dict[str, _Memo] = {}
        self._lock = threading.Lock()
        self.charts = ChartSources(charts.ChartFetcher(repos.cache_dir.parent / "charts"))
        self.artifacts = ArtifactSources(self.charts.fetcher.store)
        self.multi = MultiSources(self)

    async def resolve(
        self,
        spec: ApplicationSpec,
        revision: str | None,
        credentials: git.GitCredentials | None,
        *,
        fresh: bool = False,
    ) -> str:
        """The commit ``revision`` names, listing the remote at most once per ``max_age``.

        ``fresh`` narrows that to FRESH_WINDOW seconds, so a burst of new apps
        or requested syncs on one repository still costs a single listing.
        """
        if len(spec.sources) > 1:
            return await self.multi.resolve(spec, revision, fresh=fresh)
        self.stats.resolves += 1
        url = spec.source.repo_url
        max_age = FRESH_WINDOW if fresh else self.max_age
        if spec.source.is_chart:
            auth = await self.charts.app_auth(spec, credentials)
            async with self._gate(url):
                resolved = await self._in(
                    self._git_pool, self.charts.resolve, spec, revision, auth, max_age
                )
            return resolved.version
        if spec.source.is_artifact:
            auth = await self.charts.app_auth(spec, credentials)
            async with self._gate(url):
                artifact = await self._in(
                    self._git_pool, self.artifacts.resolve, spec, revision, auth, max_age
                )
            return artifact.digest
        self.check_url(url)
        target = revision or spec.source.target_revision or "HEAD"
        memo_key = (git.cache_key(url), target)
        async with self._gate(url):
            known = self._resolved.get(memo_key)
            if known is not None and time.monotonic() - known[0] <= max_age:
                return known[1]
            failed = self._failed.get(memo_key)
            if failed is not None and time.monotonic() - failed[0] <= max_age:
                raise failed[1]
            started = time.monotonic()
            try:
                sha = await self._in(
                    self._git_pool, self.repos.resolve, url, target, credentials, max_age
                )
            except git.GitError as exc:
                self.stats.fetch_errors += 1
                self._failed[memo_key] = (started, exc)
                raise
            self._failed.pop(memo_key, None)
            self._resolved[memo_key] = (started, sha)
            return sha

    def check_url(self, url: str) -> None:
        """LocalRepositoryError for a local path or file:// URL unless local repos are allowed."""
        if not self.allow_local_repos and git.is_local(url.strip()):
            raise LocalRepositoryError(
                f"repoURL '{strip_userinfo(url)}' is a local path or file:// URL, which reads "
                "the controller's own filesystem: refused (start the controller with "
                "--allow-local-repos to allow it)"
            )

    def _gate(self, url: str) -> asyncio.Semaphore:
        """One Git thread at a time per repository; waiters hold no thread."""
        key = git.cache_key(url)
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = asyncio.Semaphore(1)
        return gate

    @staticmethod
    async def _in(pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        return await loop.run_in_executor(pool, call)

    def close(self) -> None:
        """Stop the worker pools (running Git and render calls finish on their own)."""
        self._git_pool.shutdown(wait=False, cancel_futures=True)
        self._render_pool.shutdown(wait=False, cancel_futures=True)

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
            return await self._render_chart(
                app_key, spec, sha, credentials, options, app_name, refs
            )
        if spec.source.is_artifact:
            if memo and memo.options == options and memo.sha == sha:
                return RenderResult(sha, memo.objects, rendered=False)
            auth = await self.charts.app_auth(spec, credentials)
            async with self._gate(url):
                files = await self._in(
                    self._git_pool, self.artifacts.files, spec, sha, auth, self.max_age
                )
            return await self._render_files(app_key, spec, sha, files, source, refs, app_name)
        self.check_url(url)
        if memo and memo.options == options:
            if memo.sha == sha:
                return RenderResult(sha, memo.objects, rendered=False)
            async with self._gate(url):
                changed = await self._in(
                    self._git_pool, self.repos.changed_paths, url, memo.sha, sha, credentials
                )
            outside = memo.whole_repo and bool(changed)
            if not git.paths_touch(changed, spec.source.path) and not (
                outside or _touches_outside(changed, spec)
            ):
                self.stats.reuses += 1
                self._memo[app_key] = _Memo(sha, options, memo.packed, memo.whole_repo)
                return RenderResult(sha, memo.objects, rendered=False)
        async with self._gate(url):
            files = await self._in(self._git_pool, self._files, url, sha, credentials)
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
        files = await self._with_chart_dependencies(spec, files)
        if refs_digest:
            chart_path = "" if spec.source.path in ("", ".") else spec.source.path.strip("/")
            source, files, _ = ref_values.inject(source, files, chart_path, refs or {})
        self.stats.renders += 1
        objects = await self._in(
            self._render_pool,
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
        with self._lock:
            self._memo[app_key] = _Memo(sha, options, pack(objects), _has_jsonnet(files, spec))
        return RenderResult(sha, objects, rendered=True)

    async def _render_chart(
        self,
        app_key: str,
        spec: ApplicationSpec,
        version: str,
        credentials: git.GitCredentials | None,
        options: str,
        app_name: str,
        refs: ref_values.RefFiles | None,
    ) -> RenderResult:
        memo = self._memo.get(app_key)
        if memo and memo.options == options and memo.sha == version:
            return RenderResult(version, memo.objects, rendered=False)
        auth = await self.charts.app_auth(spec, credentials)
        async with self._gate(spec.source.repo_url):
            # Fetching (a cache miss) is network work: the Git pool, one per repository.
            await self._in(self._git_pool, self.charts.fetch, spec, version, auth)
        self.stats.renders += 1
        objects = await self._in(
            self._render_pool,
            functools.partial(
                self.charts.render,
                spec,
                version,
                auth,
                app_name=app_name,
                helm_path=self.helm_path,
                refs=refs,
            ),
        )
        with self._lock:
            self._memo[app_key] = _Memo(version, options, pack(objects))
        return RenderResult(version, objects, rendered=True)

    async def _with_chart_dependencies(
        self, spec: ApplicationSpec, files: dict[str, bytes]
    ) -> dict[str, bytes]:
        """A Git chart's undeclared-in-charts/ dependencies, fetched from declared repositories."""
        source = spec.source.model_dump(by_alias=True, exclude_none=True)
        if describe(source, files) != "helm":
            return files
        path = "" if spec.source.path in ("", ".") else spec.source.path.strip("/")
        if not charts_missing(files, path):
            return files
        return await self._in(
            self._git_pool, self.charts.with_dependencies, files, path, spec.project
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
        files = self.repos.read_tree(url, sha, "", credentials)
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
        async with self._gate(url):
            return await self._in(self._git_pool, self._files, url, sha, credentials)

    def announce_push(self, url: str) -> None:
        """A webhook said ``url`` changed: the next resolve lists the remote once for all apps."""
        self.repos.forget_heads(url)
        self.charts.forget(url)
        self.artifacts.forget(url)
        key = git.cache_key(url)
        for memo_key in [k for k in self._resolved if k[0] == key]:
            self._resolved.pop(memo_key, None)

    def forget(self, app_key: str) -> None:
        for key in [k for k in self._memo if k == app_key or k.startswith(app_key + "#")]:
            self._memo.pop(key, None)

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
            async with self._gate(url):
                info = await self._in(self._git_pool, self.repos.commit_info, url, sha, credentials)
        except git.GitError:
            return ""
        return info.message.strip().splitlines()[0] if info.message.strip() else ""


def _has_path(files: dict[str, bytes], path: str) -> bool:
    if path in ("", "."):
        return True
    prefix = path.rstrip("/") + "/"
    return path in files or any(name.startswith(prefix) for name in files)


def _has_jsonnet(files: dict[str, bytes], spec: ApplicationSpec) -> bool:
    path = spec.source.path.strip("/")
    prefix = "" if path in ("", ".") else path + "/"
    return any(name.startswith(prefix) and is_jsonnet_file(name) for name in files)


def _touches_outside(changed: set[str], spec: ApplicationSpec) -> bool:
    """Kustomize bases and helm value files may live outside the app path."""
    if spec.source.kustomize is not None or spec.source.helm is not None:
        return bool(changed)
    return False
