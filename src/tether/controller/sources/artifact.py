"""The source step for an OCI artifact of plain manifests (``oci://`` without a chart).

Its revision is the manifest digest the target names; resolving and pulling
are network work, so they run in the Git pool, one call per repository at a
time. The unpacked files are then rendered like a Git tree (``Sources``).
"""

from __future__ import annotations

from tether.adapters import git
from tether.controller.artifacts import ArtifactSources
from tether.controller.sources.chart import ChartSource
from tether.engine.application import ApplicationSpec


class ArtifactSource:
    def __init__(self, artifacts: ArtifactSources, charts: ChartSource) -> None:
        self.artifacts = artifacts
        self.charts = charts  # artifact credentials are the OCI chart ones

    async def resolve(
        self,
        spec: ApplicationSpec,
        revision: str | None,
        credentials: git.GitCredentials | None,
        max_age: float,
    ) -> str:
        """The manifest digest ``revision`` (or the spec's target) names."""
        fetch = self.charts.fetch
        artifact = await fetch(self.artifacts.resolve, spec, revision, credentials, max_age)
        return artifact.digest

    async def files(
        self,
        spec: ApplicationSpec,
        digest: str,
        credentials: git.GitCredentials | None,
        max_age: float,
    ) -> dict[str, bytes]:
        """The artifact's files, unpacked."""
        return await self.charts.fetch(self.artifacts.files, spec, digest, credentials, max_age)
