"""The source step for an OCI artifact of plain manifests (``oci://`` without a chart).

Its revision is the manifest digest the target names; resolving and pulling
are network work, so they run in the Git pool, one call per repository at a
time. The unpacked files are then rendered like a Git tree (``Sources``).
"""

from __future__ import annotations

from tether.adapters import git
from tether.controller.artifacts import ArtifactSources
from tether.controller.charts import ChartSources
from tether.controller.source_pools import WorkPools
from tether.engine.application import ApplicationSpec


class ArtifactSource:
    def __init__(self, artifacts: ArtifactSources, charts: ChartSources, pools: WorkPools) -> None:
        self.artifacts = artifacts
        self.charts = charts  # artifact credentials are the OCI chart ones
        self.pools = pools

    async def resolve(
        self,
        spec: ApplicationSpec,
        revision: str | None,
        credentials: git.GitCredentials | None,
        max_age: float,
    ) -> str:
        """The manifest digest ``revision`` (or the spec's target) names."""
        auth = await self.charts.app_auth(spec, credentials)
        async with self.pools.gate(spec.source.repo_url):
            artifact = await self.pools.git(self.artifacts.resolve, spec, revision, auth, max_age)
        return artifact.digest

    async def files(
        self,
        spec: ApplicationSpec,
        digest: str,
        credentials: git.GitCredentials | None,
        max_age: float,
    ) -> dict[str, bytes]:
        """The artifact's files, unpacked."""
        auth = await self.charts.app_auth(spec, credentials)
        async with self.pools.gate(spec.source.repo_url):
            return await self.pools.git(self.artifacts.files, spec, digest, auth, max_age)
