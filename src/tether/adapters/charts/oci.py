"""Charts in OCI registries (``helm push``): tags are versions, the chart is one layer.

Helm stores version ``1.2.3+build`` under the tag ``1.2.3_build`` (``+`` is
not allowed in tags). The manifest's layer of media type
``application/vnd.cncf.helm.chart.content.v1.tar+gzip`` is the chart archive;
its digest is the cache key. Authentication is the registry's own: Basic on
every request, or the bearer-token exchange (shared with the pull check).
Loopback registries are spoken to over plain HTTP, as container runtimes do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from tether.adapters.charts import transport
from tether.adapters.charts.auth import ChartAuth
from tether.adapters.charts.errors import ChartError
from tether.adapters.registry._http import authorized_get, default_scheme, registry_error
from tether.engine.versions import ConstraintError, resolve

CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json"
MAX_PAGES = 50
MAX_CHART_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class OciChart:
    host: str
    repository: str  # path in the registry, chart name included
    noun: str = "chart"  # what errors call the content: "chart", or "artifact"

    @property
    def display(self) -> str:
        return f"oci://{self.host}/{self.repository}"


def parse(repo_url: str, chart: str) -> OciChart:
    """``oci://host/path`` (or ``host/path``) and ``chart`` -> host, ``path/chart``."""
    bare = repo_url.strip()
    if bare.lower().startswith("oci://"):
        bare = bare[len("oci://") :]
    host, _, path = bare.strip("/").partition("/")
    if not host:
        raise ChartError(f"repoURL '{repo_url}' names no registry")
    repository = "/".join(p for p in (path, chart.strip("/")) if p)
    return OciChart(host, repository)


def _fail(ref: OciChart, response: httpx.Response, what: str) -> ChartError:
    code = response.status_code
    if code in (401, 403):
        return ChartError(
            f"{ref.noun} registry {ref.display} refused the credentials ({code}: "
            f"{registry_error(response)}) reading {what}: check the username and password "
            "of the repository"
        )
    if code == 404:
        return ChartError(f"{ref.noun} {ref.display} has no {what} (404)")
    return ChartError(f"{ref.noun} registry {ref.display}: {registry_error(response)} for {what}")


def _get(
    http: httpx.Client, ref: OciChart, url: str, auth: ChartAuth, what: str, **kw: str
) -> httpx.Response:
    try:
        response = authorized_get(
            http,
            url,
            auth.basic,
            scope=f"repository:{ref.repository}:pull",
            headers=dict(kw) or None,
        )
    except httpx.TimeoutException:
        raise ChartError(f"{ref.noun} registry {ref.display}: timed out reading {what}") from None
    except httpx.HTTPError as exc:
        raise ChartError(f"{ref.noun} registry {ref.display}: cannot read {what}: {exc}") from None
    if response.status_code != 200:
        raise _fail(ref, response, what)
    return response


def _base(ref: OciChart) -> str:
    return f"{default_scheme(ref.host)}://{ref.host}/v2/{ref.repository}"


def tags(ref: OciChart, auth: ChartAuth) -> list[str]:
    out: list[str] = []
    url: str | None = f"{_base(ref)}/tags/list"
    with transport.client(auth) as http:
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = _get(http, ref, url, auth, "tag list")
            out.extend(str(t) for t in (response.json().get("tags") or []))
            link = response.headers.get("link", "")
            url = urljoin(url, link.split(";")[0].strip("<> ")) if 'rel="next"' in link else None
    return out


def pick(ref: OciChart, auth: ChartAuth, constraint: str) -> str:
    """The chart version (as Helm writes it, ``+`` restored) the constraint selects."""
    versions = [t.replace("_", "+") for t in tags(ref, auth)]
    try:
        version = resolve(constraint, versions)
    except ConstraintError as exc:
        raise ChartError(f"targetRevision: {exc}") from None
    if version is None:
        raise ChartError(f"no version of chart {ref.display} matches '{constraint}'")
    return version


def layer_digest(ref: OciChart, auth: ChartAuth, version: str) -> str:
    tag = version.replace("+", "_")
    with transport.client(auth) as http:
        response = _get(
            http,
            ref,
            f"{_base(ref)}/manifests/{tag}",
            auth,
            f"version {version}",
            Accept=MANIFEST_TYPES,
        )
    layers = response.json().get("layers") or []
    for layer in layers:
        if layer.get("mediaType") == CHART_LAYER and str(layer.get("digest", "")).startswith(
            "sha256:"
        ):
            return str(layer["digest"])
    raise ChartError(f"{ref.display}:{tag} is not a Helm chart (no chart layer)")


def download(ref: OciChart, auth: ChartAuth, digest: str) -> bytes:
    with transport.client(auth) as http:
        response = _get(http, ref, f"{_base(ref)}/blobs/{digest}", auth, f"blob {digest[:19]}")
    data = response.content
    if len(data) > MAX_CHART_BYTES:
        raise ChartError(f"chart {ref.display} is over {MAX_CHART_BYTES} bytes")
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise ChartError(f"chart {ref.display}: blob does not match its digest {digest[:19]}")
    return data
