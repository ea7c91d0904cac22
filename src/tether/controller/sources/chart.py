"""The source step for a Helm chart: from a chart repository, or a chart in Git.

A source that names a ``chart`` comes from a chart repository (or an OCI
registry) instead of Git: its revision is the chart version its constraint
resolves to, fetched over HTTP in the Git pool (network work, one call per
repository at a time) and rendered in the render pool. A chart kept in Git
may leave its dependencies out of ``charts/``; those are fetched from the
repositories its ``Chart.yaml`` declares before the render.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from tether.adapters import git
from tether.adapters.render import describe
from tether.controller import ref_values
from tether.controller.charts import ChartSources
from tether.controller.charts import missing_dependencies as charts_missing
from tether.controller.sources.memo import RenderMemos, RenderResult, SourceStats
from tether.controller.sources.pools import WorkPools
from tether.engine.application import ApplicationSpec

T = TypeVar("T")


class ChartSource:
    def __init__(
        self,
        charts: ChartSources,
        pools: WorkPools,
        memos: RenderMemos,
        stats: SourceStats,
        *,
        helm_path: str | None = None,
    ) -> None:
        self.charts = charts
        self.pools = pools
        self.memos = memos
        self.stats = stats
        self.helm_path = helm_path

    async def resolve(
        self,
        spec: ApplicationSpec,
        revision: str | None,
        credentials: git.GitCredentials | None,
        max_age: float,
    ) -> str:
        """The chart version ``revision`` (or the spec's constraint) names."""
        resolved = await self.fetch(self.charts.resolve, spec, revision, credentials, max_age)
        return resolved.version

    async def fetch(
        self,
        fn: Callable[..., T],
        spec: ApplicationSpec,
        revision: str | None,
        credentials: git.GitCredentials | None,
        *rest: Any,
    ) -> T:
        """``fn(spec, revision, auth, *rest)`` with the app's chart (or OCI) credentials:
        network work, so in the Git pool, one call per repository at a time."""
        auth = await self.charts.app_auth(spec, credentials)
        async with self.pools.gate(spec.source.repo_url):
            return await self.pools.git(fn, spec, revision, auth, *rest)

    async def render(
        self,
        app_key: str,
        spec: ApplicationSpec,
        version: str,
        credentials: git.GitCredentials | None,
        options: str,
        app_name: str,
        refs: ref_values.RefFiles | None,
    ) -> RenderResult:
        memo = self.memos.get(app_key)
        if memo and memo.options == options and memo.sha == version:
            return memo.reused()
        auth = await self.charts.app_auth(spec, credentials)
        async with self.pools.gate(spec.source.repo_url):
            # Fetching (a cache miss) is network work: the Git pool, one per repository.
            await self.pools.git(self.charts.fetch, spec, version, auth)
        self.stats.renders += 1
        objects = await self.pools.render(
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
        return self.memos.rendered(app_key, version, options, objects)

    async def with_dependencies(
        self, spec: ApplicationSpec, files: dict[str, bytes]
    ) -> dict[str, bytes]:
        """A Git chart's undeclared-in-charts/ dependencies, fetched from declared repositories."""
        source = spec.source.model_dump(by_alias=True, exclude_none=True)
        if describe(source, files) != "helm":
            return files
        path = "" if spec.source.path in ("", ".") else spec.source.path.strip("/")
        if not charts_missing(files, path):
            return files
        return await self.pools.git(self.charts.with_dependencies, files, path, spec.project)
