"""Chart sources for the source step: resolve a version, fetch the chart, render it.

An Application whose source names a ``chart`` reads it from a chart
repository (HTTP index or OCI) instead of Git. Its "revision" is the chart
version the ``targetRevision`` constraint resolves to, so status, history and
rollback (which syncs to a recorded revision, i.e. an exact version) work as
for commits. Versions are resolved at most once per poll window per
(repository, chart, constraint); archives are cached on disk by digest.

Charts, from Git or from a repository, may declare dependencies that are not
vendored in ``charts/``. Those are fetched the way ``helm dependency build``
would, but only from repositories a repository Secret of the app's project
declares, with that Secret's credentials: a chart cannot make the controller
fetch from an arbitrary URL, and no credential is lent across projects.
"""

from __future__ import annotations

import posixpath
import threading
import time
from collections.abc import Callable
from typing import Any

import yaml

from tether.adapters import charts
from tether.adapters.charts import ChartAuth, ChartError, ChartFetcher, ResolvedChart
from tether.adapters.render.helm import render_helm
from tether.adapters.render.source import parse_source
from tether.engine.application import ApplicationSpec
from tether.engine.credentials import GitCredentials, strip_userinfo
from tether.engine.objects import Obj

SecretList = Callable[[], list[Obj]]
MAX_DEPENDENCY_DEPTH = 5


class ChartSources:
    def __init__(self, fetcher: ChartFetcher) -> None:
        self.fetcher = fetcher
        self.repository_secrets: SecretList | None = None
        self._resolved: dict[tuple[str, str, str], tuple[float, ResolvedChart]] = {}
        self._by_version: dict[tuple[str, str, str], ResolvedChart] = {}
        self._lock = threading.Lock()

    def auth(self, url: str, project: str, fallback: GitCredentials | None) -> ChartAuth:
        if self.repository_secrets is not None:
            return charts.chart_auth_for(url, self.repository_secrets(), project)
        if fallback is None:
            return ChartAuth()
        return ChartAuth(fallback.username, fallback.password, declared=True)

    def resolve(
        self,
        spec: ApplicationSpec,
        revision: str | None,
        credentials: GitCredentials | None,
        max_age: float,
    ) -> ResolvedChart:
        """The version (and digest) of the app's chart that ``revision`` or the spec selects."""
        source = spec.source
        assert source.chart is not None
        constraint = revision or source.target_revision
        key = (source.repo_url, source.chart, constraint)
        now = time.monotonic()
        with self._lock:
            known = self._resolved.get(key)
        if known is not None and now - known[0] <= max_age:
            return known[1]
        auth = self.auth(source.repo_url, spec.project, credentials)
        resolved = self.fetcher.resolve(source.repo_url, source.chart, constraint, auth)
        with self._lock:
            self._resolved[key] = (now, resolved)
            self._by_version[(source.repo_url, source.chart, resolved.version)] = resolved
        return resolved

    def known(self, spec: ApplicationSpec, version: str) -> ResolvedChart | None:
        assert spec.source.chart is not None
        with self._lock:
            return self._by_version.get((spec.source.repo_url, spec.source.chart, version))

    def message(self, url: str, version: str) -> str | None:
        """What history shows for a chart revision (chart, version, digest); None for Git."""
        with self._lock:
            found = [r for k, r in self._by_version.items() if k[0] == url and k[2] == version]
        if not found:
            return None
        digest = f" ({found[0].digest[:19]})" if found[0].digest else ""
        return f"chart {found[0].display}{digest}"

    def forget(self, url: str) -> None:
        with self._lock:
            for key in [k for k in self._resolved if k[0] == url]:
                self._resolved.pop(key, None)

    def render(
        self,
        spec: ApplicationSpec,
        version: str,
        credentials: GitCredentials | None,
        *,
        app_name: str,
        helm_path: str | None,
    ) -> list[Obj]:
        """``helm template`` of the chart version (offline), dependencies filled in."""
        resolved = self.known(spec, version) or self.resolve(spec, version, credentials, 0.0)
        auth = self.auth(spec.source.repo_url, spec.project, credentials)
        chart = self.fetcher.files(resolved, auth)
        files = self.with_dependencies(chart.files, chart.root, spec.project)
        helm: dict[str, Any] = {}
        if spec.source.helm is not None:
            helm = spec.source.helm.model_dump(by_alias=True, exclude_none=True)
        options = parse_source({"path": chart.root, "helm": helm}).helm
        return render_helm(
            files,
            chart.root,
            options,
            release_name=app_name,
            namespace=spec.destination.namespace,
            helm_path=helm_path,
        )

    def with_dependencies(
        self, files: dict[str, bytes], chart_path: str, project: str, depth: int = 0
    ) -> dict[str, bytes]:
        """``files`` plus every dependency of the chart at ``chart_path`` not vendored yet."""
        missing = missing_dependencies(files, chart_path)
        if not missing:
            return files
        if depth >= MAX_DEPENDENCY_DEPTH:
            raise ChartError(f"chart dependencies nest deeper than {MAX_DEPENDENCY_DEPTH} levels")
        out = dict(files)
        for dep in missing:
            repository = str(dep.get("repository") or "")
            name = str(dep["name"])
            where = strip_userinfo(repository)
            auth = self.auth(repository, project, None)
            if not auth.declared:
                raise ChartError(
                    f"chart dependency '{name}' comes from {where}, which no repository Secret "
                    f"of project {project} declares: declare the repository (a repository "
                    "Secret with its url) or vendor the dependency in charts/"
                )
            resolved = self.fetcher.resolve(repository, name, str(dep.get("version") or ""), auth)
            dep_chart = self.fetcher.files(resolved, auth)
            target = posixpath.join(chart_path, "charts", name) if chart_path else f"charts/{name}"
            nested = {
                posixpath.join(target, rel.split("/", 1)[1]): data
                for rel, data in dep_chart.files.items()
                if "/" in rel and rel.split("/", 1)[0] == dep_chart.root
            }
            out.update(self.with_dependencies(nested, target, project, depth + 1))
        return out


def missing_dependencies(files: dict[str, bytes], chart_path: str) -> list[dict[str, Any]]:
    """Dependencies in Chart.yaml (from a chart repository) with nothing in ``charts/``."""
    prefix = f"{chart_path}/" if chart_path else ""
    raw = files.get(prefix + "Chart.yaml")
    if raw is None:
        return []
    try:
        chart = yaml.safe_load(raw)
    except yaml.YAMLError:
        return []  # helm template reports a broken Chart.yaml better than we would
    deps = chart.get("dependencies") if isinstance(chart, dict) else None
    out = []
    for dep in deps or []:
        if not isinstance(dep, dict) or not dep.get("name"):
            continue
        repository = str(dep.get("repository") or "")
        if not repository.lower().startswith(("http://", "https://", "oci://")):
            continue  # vendored, file:// or a named repository: left to helm
        name = str(dep["name"])
        vendored = prefix + f"charts/{name}/Chart.yaml" in files or any(
            n.startswith(prefix + f"charts/{name}-") and n.endswith(".tgz") for n in files
        )
        if not vendored:
            out.append(dep)
    return out
