"""Helm charts from chart repositories: HTTP ``index.yaml`` repositories and OCI registries.

``ChartFetcher.resolve`` turns (repository, chart, version constraint) into
one version and, where the repository says it, the archive's digest;
``ChartFetcher.files`` returns the unpacked chart, from the on-disk cache when
the digest is known. Nothing here runs ``helm``: fetching is plain HTTP with
the repository's own credentials, held in memory only, so no credential is
ever written to a Helm config that another app's render could read. Rendering
stays ``helm template``, offline, in ``tether.adapters.render.helm``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from tether.adapters.charts import index, oci
from tether.adapters.charts.auth import ChartAuth, as_oci, chart_auth_for, is_oci
from tether.adapters.charts.errors import ChartError
from tether.adapters.charts.store import ChartStore, chart_root, unpack
from tether.engine.credentials import strip_userinfo

__all__ = [
    "Chart",
    "ChartAuth",
    "ChartError",
    "ChartFetcher",
    "ResolvedChart",
    "chart_auth_for",
    "is_oci",
]


@dataclass(frozen=True)
class ResolvedChart:
    repo_url: str
    chart: str
    version: str
    digest: str  # "sha256:..."; "" until downloaded when the index gives none
    urls: tuple[str, ...] = ()

    @property
    def display(self) -> str:
        if is_oci(self.repo_url):
            return f"{as_oci(self.repo_url)}/{self.chart}:{self.version}"
        return f"{strip_userinfo(self.repo_url).rstrip('/')} {self.chart} {self.version}"


@dataclass(frozen=True)
class Chart:
    resolved: ResolvedChart
    root: str  # the chart's directory in ``files``
    files: dict[str, bytes]


class ChartFetcher:
    def __init__(self, cache_dir: Path | None = None) -> None:
        self.store = ChartStore(cache_dir)
        self._digests: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def resolve(self, repo_url: str, chart: str, constraint: str, auth: ChartAuth) -> ResolvedChart:
        """Ask the repository which version ``constraint`` means now (network)."""
        if is_oci(repo_url):
            ref = oci.parse(repo_url, chart)
            version = oci.pick(ref, auth, constraint)
            digest = oci.layer_digest(ref, auth, version)
            return ResolvedChart(repo_url, chart, version, digest)
        entries = index.fetch_index(repo_url, auth)
        entry = index.pick(entries, repo_url, chart, constraint)
        with self._lock:
            digest = entry.digest or self._digests.get((repo_url, chart, entry.version), "")
        return ResolvedChart(repo_url, chart, entry.version, digest, entry.urls)

    def files(self, resolved: ResolvedChart, auth: ChartAuth) -> Chart:
        """The unpacked chart, downloaded only when its digest is not cached yet."""
        archive = self.store.get(resolved.digest)
        if archive is None:
            archive = self._download(resolved, auth)
            digest = self.store.put(archive, resolved.display)
            if resolved.digest and digest != resolved.digest:
                raise ChartError(
                    f"{resolved.display}: the archive's digest {digest[:19]} is not the "
                    f"{resolved.digest[:19]} the repository lists"
                )
            with self._lock:
                self._digests[(resolved.repo_url, resolved.chart, resolved.version)] = digest
        files = unpack(archive, resolved.display)
        return Chart(resolved, chart_root(files, resolved.display), files)

    @staticmethod
    def _download(resolved: ResolvedChart, auth: ChartAuth) -> bytes:
        if is_oci(resolved.repo_url):
            return oci.download(oci.parse(resolved.repo_url, resolved.chart), auth, resolved.digest)
        entry = index.IndexEntry(resolved.chart, resolved.version, resolved.urls, resolved.digest)
        return index.download(resolved.repo_url, entry, auth)
