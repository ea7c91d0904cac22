"""HTTP(S) chart repositories: ``index.yaml``, then the chart archive it points to.

The index lists every version of every chart with its download URLs and
(usually) the archive's sha256 ``digest``. Download URLs may be relative to
the repository URL. Credentials go to the repository's own host; to another
host (a CDN) only when the repository Secret sets ``passCredentials``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import yaml

from tether.adapters.charts import transport
from tether.adapters.charts.auth import ChartAuth
from tether.adapters.charts.errors import ChartError
from tether.engine.credentials import strip_userinfo
from tether.engine.versions import ConstraintError, resolve

MAX_INDEX_BYTES = 64 * 1024 * 1024
MAX_CHART_BYTES = 32 * 1024 * 1024
_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class IndexEntry:
    chart: str
    version: str
    urls: tuple[str, ...]
    digest: str  # "sha256:<hex>" or "" when the index has none


def describe_status(repo: str, response: httpx.Response, what: str) -> ChartError:
    code = response.status_code
    if code in (401, 403):
        return ChartError(
            f"chart repository {repo} refused the credentials ({code} "
            f"{response.reason_phrase}) reading {what}: check the username and password "
            "of the repository"
        )
    return ChartError(
        f"chart repository {repo} answered {code} {response.reason_phrase} for {what}"
    )


def get(
    http: httpx.Client, url: str, auth: ChartAuth, repo_url: str, what: str, limit: int
) -> bytes:
    repo = strip_userinfo(repo_url)
    same_host = urlsplit(url).netloc == urlsplit(repo_url).netloc
    basic = auth.basic if (same_host or auth.pass_credentials) else None
    try:
        with http.stream("GET", url, auth=httpx.BasicAuth(*basic) if basic else None) as response:
            if response.status_code != 200:
                response.read()
                raise describe_status(repo, response, what)
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > limit:
                    raise ChartError(f"chart repository {repo}: {what} is over {limit} bytes")
            return bytes(body)
    except httpx.TimeoutException:
        raise ChartError(f"chart repository {repo}: timed out reading {what}") from None
    except httpx.HTTPError as exc:
        raise ChartError(f"chart repository {repo}: cannot read {what}: {exc}") from None


def fetch_index(repo_url: str, auth: ChartAuth) -> dict[str, list[IndexEntry]]:
    """The repository's index: chart name -> entries."""
    url = repo_url.rstrip("/") + "/index.yaml"
    with transport.client(auth) as http:
        raw = get(http, url, auth, repo_url, "index.yaml", MAX_INDEX_BYTES)
    try:
        doc = yaml.load(raw, Loader=_Loader)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), dict):
        raise ChartError(f"chart repository {strip_userinfo(repo_url)}: index.yaml is not an index")
    out: dict[str, list[IndexEntry]] = {}
    for name, versions in doc["entries"].items():
        entries = []
        for item in versions or []:
            if not isinstance(item, dict) or not item.get("version"):
                continue
            digest = str(item.get("digest") or "")
            entries.append(
                IndexEntry(
                    str(name),
                    str(item["version"]),
                    tuple(str(u) for u in item.get("urls") or []),
                    f"sha256:{digest}" if digest and ":" not in digest else digest,
                )
            )
        out[str(name)] = entries
    return out


def pick(
    index: dict[str, list[IndexEntry]], repo_url: str, chart: str, constraint: str
) -> IndexEntry:
    repo = strip_userinfo(repo_url)
    entries = index.get(chart)
    if not entries:
        raise ChartError(f"chart '{chart}' not found in chart repository {repo}")
    try:
        version = resolve(constraint, [e.version for e in entries])
    except ConstraintError as exc:
        raise ChartError(f"targetRevision: {exc}") from None
    if version is None:
        known = ", ".join(sorted({e.version for e in entries})[-8:])
        raise ChartError(
            f"no version of chart '{chart}' in {repo} matches '{constraint}' (latest: {known})"
        )
    return next(e for e in entries if e.version == version)


def download(repo_url: str, entry: IndexEntry, auth: ChartAuth) -> bytes:
    if not entry.urls:
        raise ChartError(
            f"chart repository {strip_userinfo(repo_url)} lists no URL for "
            f"{entry.chart} {entry.version}"
        )
    url = urljoin(repo_url.rstrip("/") + "/", entry.urls[0])
    with transport.client(auth) as http:
        return get(http, url, auth, repo_url, f"{entry.chart}-{entry.version}.tgz", MAX_CHART_BYTES)
