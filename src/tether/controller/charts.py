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

import base64
import binascii
import dataclasses
import hashlib
import json
import posixpath
import threading
from collections.abc import Callable
from typing import Any

import yaml

from tether.adapters import charts
from tether.adapters.charts import Chart, ChartAuth, ChartError, ChartFetcher, ResolvedChart, oci
from tether.adapters.kube import KubeClient
from tether.adapters.registry._http import best_auth_key
from tether.adapters.render.helm import render_helm
from tether.adapters.render.source import parse_source
from tether.controller import ref_values
from tether.controller.answers import Answers
from tether.engine.application import ApplicationSpec
from tether.engine.credentials import GitCredentials, strip_userinfo
from tether.engine.objects import Obj

SecretList = Callable[[], list[Obj]]
REGISTRY_CREDENTIAL_API = "tether.dev/v1alpha1"
MAX_DEPENDENCY_DEPTH = 5


class ChartSources:
    def __init__(self, fetcher: ChartFetcher) -> None:
        self.fetcher = fetcher
        self.repository_secrets: SecretList | None = None
        self.kube: KubeClient | None = None
        self._answers: Answers[tuple[str, str, str, str], ResolvedChart] = Answers(ChartError)
        self._by_version: dict[tuple[str, str, str], ResolvedChart] = {}
        self._lock = threading.Lock()

    def auth(self, url: str, project: str, fallback: GitCredentials | None) -> ChartAuth:
        if self.repository_secrets is not None:
            return charts.chart_auth_for(url, self.repository_secrets(), project)
        if fallback is None:
            return ChartAuth()
        return ChartAuth(fallback.username, fallback.password, declared=True)

    def attach(self, kube: KubeClient, repository_secrets: SecretList) -> None:
        """Read repository Secrets (and RegistryCredential pull Secrets) through ``kube``."""
        self.kube = kube
        self.repository_secrets = repository_secrets

    async def app_auth(self, spec: ApplicationSpec, fallback: GitCredentials | None) -> ChartAuth:
        """The app's chart repository options, with a RegistryCredential's login filled in."""
        auth = self.auth(spec.source.repo_url, spec.project, fallback)
        if auth.registry_credential is None or self.kube is None:
            return auth
        return await registry_login(
            self.kube, auth, spec.source.repo_url, spec.destination.namespace
        )

    def resolve(
        self,
        spec: ApplicationSpec,
        revision: str | None,
        auth: ChartAuth,
        max_age: float,
    ) -> ResolvedChart:
        """The version (and digest) of the app's chart that ``revision`` or the spec selects.

        Answers (and failures) are remembered for ``max_age`` per credentials, never
        shared between apps that authenticate differently: an app only renders a
        chart its own credentials were just allowed to read, even when the archive
        is already in the cache.
        """
        source = spec.source
        assert source.chart is not None
        constraint = revision or source.target_revision
        key = (source.repo_url, source.chart, constraint, fingerprint(auth))
        chart = source.chart
        resolved = self._answers.get(
            key,
            max_age,
            lambda: self.fetcher.resolve(source.repo_url, chart, constraint, auth),
        )
        with self._lock:
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
        self._answers.forget(url)

    def fetch(self, spec: ApplicationSpec, version: str, auth: ChartAuth) -> Chart:
        """The chart at ``version``, from the digest cache or the repository."""
        resolved = self.known(spec, version) or self.resolve(spec, version, auth, 0.0)
        return self.fetcher.files(resolved, auth)

    def render(
        self,
        spec: ApplicationSpec,
        version: str,
        auth: ChartAuth,
        *,
        app_name: str,
        helm_path: str | None,
        refs: ref_values.RefFiles | None = None,
    ) -> list[Obj]:
        """``helm template`` of the chart version (offline), dependencies filled in."""
        chart = self.fetch(spec, version, auth)
        files = self.with_dependencies(chart.files, chart.root, spec.project)
        helm: dict[str, Any] = {}
        if spec.source.helm is not None:
            helm = spec.source.helm.model_dump(by_alias=True, exclude_none=True)
        source: dict[str, Any] = {"path": chart.root, "helm": helm}
        if ref_values.uses_refs(source):
            source, files, _ = ref_values.inject(source, files, chart.root, refs or {})
        options = parse_source(source).helm
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


async def registry_login(kube: KubeClient, auth: ChartAuth, url: str, namespace: str) -> ChartAuth:
    """``auth`` with the login the named RegistryCredential wrote for ``namespace``."""
    name = str(auth.registry_credential)
    where = strip_userinfo(url)
    credential = await kube.get_or_none(REGISTRY_CREDENTIAL_API, "RegistryCredential", name)
    if credential is None:
        raise ChartError(f"chart registry {where}: its RegistryCredential {name} does not exist")
    secret_name = str((credential.get("spec") or {}).get("secretName") or "")
    secret = await kube.get_or_none("v1", "Secret", secret_name, namespace) if secret_name else None
    if secret is None:
        raise ChartError(
            f"chart registry {where}: RegistryCredential {name} has no pull Secret in namespace "
            f"{namespace} (its namespaces must include the app's destination)"
        )
    auths = dockerconfig_auths(secret)
    host = oci.parse(url, "x").host
    key = best_auth_key(list(auths), host)
    if key is None:
        raise ChartError(
            f"chart registry {where}: the pull Secret of RegistryCredential {name} has no "
            f"login for {host}"
        )
    username, password = auths[key]
    return dataclasses.replace(auth, username=username, password=password)


def dockerconfig_auths(secret: Obj) -> dict[str, tuple[str, str]]:
    """``{registry: (username, password)}`` of a ``kubernetes.io/dockerconfigjson`` Secret."""
    raw = (secret.get("data") or {}).get(".dockerconfigjson", "")
    try:
        config = json.loads(base64.b64decode(raw))
    except (ValueError, binascii.Error):
        return {}
    out: dict[str, tuple[str, str]] = {}
    for host, entry in (config.get("auths") or {}).items():
        if not isinstance(entry, dict):
            continue
        user, password = entry.get("username"), entry.get("password")
        if (not user or not password) and entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, binascii.Error, UnicodeDecodeError):
                continue
        if user is not None and password is not None:
            out[str(host)] = (str(user), str(password))
    return out


def fingerprint(auth: ChartAuth) -> str:
    """A digest of everything ``auth`` authenticates with (never shown)."""
    blob = json.dumps(dataclasses.asdict(auth), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


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
