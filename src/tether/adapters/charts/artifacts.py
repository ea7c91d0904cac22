"""OCI artifacts of plain manifests (Flux's ``flux push artifact``, Argo CD's OCI sources).

An artifact is an OCI image manifest whose content layer is a tar+gzip of
YAML: Flux's ``application/vnd.cncf.flux.content.v1.tar+gzip`` (config
``application/vnd.cncf.flux.config.v1+json``) or a generic
``application/vnd.oci.image.layer.v1.tar+gzip``. It is pulled by tag, by
digest, or by the highest tag a semver range selects; the manifest's digest
is the revision, so a new push under the same tag is a new revision at the
next poll, and a revision recorded in history pulls exactly that manifest
again. The content layer's digest is the cache key in the chart store.

The registry client, its authentication (Basic or the bearer-token exchange)
and the store are the OCI chart ones. Unpacking is stricter than for charts:
the tarball is untrusted input to a render, so it is bounded by the render
limits, and an absolute path, a ``..`` or any link refuses it, naming the
entry.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import re
import tarfile
import zlib
from dataclasses import dataclass
from typing import Any

from tether.adapters.charts import oci, transport
from tether.adapters.charts.auth import ChartAuth
from tether.adapters.charts.errors import ChartError
from tether.adapters.charts.oci import OciChart
from tether.adapters.render import limits
from tether.engine.versions import ConstraintError, resolve

FLUX_CONTENT = "application/vnd.cncf.flux.content.v1.tar+gzip"
FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
CONTENT_LAYERS = (FLUX_CONTENT, OCI_LAYER, DOCKER_LAYER)  # in order of preference
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        *INDEX_TYPES,  # asked for only to say clearly that an index is not an artifact
    )
)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_BLOB_BYTES = limits.MAX_RENDERED_BYTES
MAX_UNPACKED_BYTES = limits.MAX_RENDERED_BYTES
MAX_FILES = limits.MAX_RENDERED_OBJECTS
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


def is_artifact_url(url: str) -> bool:
    """An OCI artifact source: an explicit ``oci://`` URL (a chart source also names ``chart``)."""
    return url.strip().lower().startswith("oci://")


@dataclass(frozen=True)
class Reference:
    """What ``targetRevision`` asks for: a tag, a manifest digest, or a semver range of tags."""

    tag: str = ""
    digest: str = ""
    constraint: str = ""


def parse_reference(target: str | None) -> Reference:
    """``""``/``HEAD`` -> tag ``latest``; ``sha256:...`` or ``tag@sha256:...``; a tag; a range."""
    text = (target or "").strip()
    if text in ("", "HEAD"):
        return Reference(tag="latest")
    tag, at, digest = text.rpartition("@")
    if at and _DIGEST.match(digest):
        return Reference(tag=tag, digest=digest)
    if _DIGEST.match(text):
        return Reference(digest=text)
    if _TAG.match(text):
        return Reference(tag=text)
    return Reference(constraint=text)


def artifact_ref(repo_url: str) -> OciChart:
    ref = oci.parse(repo_url, "")
    return OciChart(ref.host, ref.repository, noun="artifact")


@dataclass(frozen=True)
class ResolvedArtifact:
    repo_url: str
    tag: str  # the tag the revision was found under ("" when asked by digest)
    digest: str  # the manifest's digest: the app's revision
    layer: str  # the content layer's digest: the cache key
    layer_type: str

    @property
    def display(self) -> str:
        where = artifact_ref(self.repo_url).display
        return f"{where}:{self.tag}@{self.digest}" if self.tag else f"{where}@{self.digest}"


def _pick(ref: OciChart, auth: ChartAuth, constraint: str) -> str:
    try:
        tag = resolve(constraint, oci.tags(ref, auth))
    except ConstraintError as exc:
        raise ChartError(f"targetRevision: {exc}") from None
    if tag is None:
        raise ChartError(f"no tag of artifact {ref.display} matches '{constraint}'")
    return tag


def fetch_manifest(ref: OciChart, auth: ChartAuth, reference: str) -> tuple[bytes, str]:
    """The manifest's bytes under ``reference`` (a tag or a digest), and its digest."""
    with transport.client(auth) as http:
        response = oci._get(
            http,
            ref,
            f"{oci._base(ref)}/manifests/{reference}",
            auth,
            f"manifest {reference[:19]}",
            Accept=ACCEPT,
        )
    body = response.content
    if len(body) > MAX_MANIFEST_BYTES:
        raise ChartError(f"artifact {ref.display}:{reference}: manifest is too large")
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if reference.startswith("sha256:") and digest != reference:
        raise ChartError(f"artifact {ref.display}: manifest does not match its digest {reference}")
    return body, digest


def content_layer(manifest: dict[str, Any], where: str) -> tuple[str, str]:
    """(digest, media type) of the layer holding the manifests."""
    media = str(manifest.get("mediaType") or "")
    if media in INDEX_TYPES or "manifests" in manifest:
        raise ChartError(f"{where} is an image index, not an artifact of manifests")
    layers = [x for x in manifest.get("layers") or [] if isinstance(x, dict)]
    if any(x.get("mediaType") == oci.CHART_LAYER for x in layers):
        raise ChartError(f"{where} is a Helm chart: name it with chart: instead of path:")
    for wanted in CONTENT_LAYERS:
        for layer in layers:
            digest = str(layer.get("digest") or "")
            if layer.get("mediaType") == wanted and _DIGEST.match(digest):
                return digest, wanted
    kinds = ", ".join(sorted({str(x.get("mediaType")) for x in layers})) or "none"
    raise ChartError(
        f"{where} has no tar+gzip layer of manifests (layers: {kinds}; expected "
        f"{FLUX_CONTENT} or {OCI_LAYER})"
    )


def resolve_artifact(repo_url: str, target: str | None, auth: ChartAuth) -> ResolvedArtifact:
    """The manifest ``target`` names now (network): a tag moves, a digest does not."""
    ref = artifact_ref(repo_url)
    wanted = parse_reference(target)
    tag = wanted.tag
    if wanted.constraint:
        tag = _pick(ref, auth, wanted.constraint)
    reference = wanted.digest or tag
    body, digest = fetch_manifest(ref, auth, reference)
    try:
        manifest = json.loads(body)
    except ValueError:
        manifest = None
    where = f"artifact {ref.display}:{reference}" if tag else f"artifact {ref.display}@{digest}"
    if not isinstance(manifest, dict):
        raise ChartError(f"{where}: the manifest is not JSON")
    layer, media = content_layer(manifest, where)
    return ResolvedArtifact(repo_url, "" if wanted.digest else tag, digest, layer, media)


def download(resolved: ResolvedArtifact, auth: ChartAuth) -> bytes:
    ref = artifact_ref(resolved.repo_url)
    with transport.client(auth) as http:
        response = oci._get(
            http, ref, f"{oci._base(ref)}/blobs/{resolved.layer}", auth, "its content layer"
        )
    data = response.content
    if len(data) > MAX_BLOB_BYTES:
        raise ChartError(f"artifact {resolved.display} is over {MAX_BLOB_BYTES} bytes")
    if "sha256:" + hashlib.sha256(data).hexdigest() != resolved.layer:
        raise ChartError(f"artifact {resolved.display}: layer does not match its digest")
    return data


def unpack(archive: bytes, what: str) -> dict[str, bytes]:
    """``{path: bytes}`` of a tar+gzip of manifests; refuses what could leave the tree.

    Only regular files and directories are accepted: a symbolic or hard link,
    a device or a FIFO is refused even if it points inside, as is an
    absolute path or one with ``..``, naming the entry. Size per file, total
    size and file count are bounded by the render limits.
    """
    out: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                raw = member.name
                parts = raw.replace("\\", "/").split("/")
                if raw.startswith("/") or ".." in parts:
                    raise ChartError(f"{what}: entry '{raw}' leaves the artifact")
                if member.isdir():
                    continue
                if not member.isfile():
                    raise ChartError(f"{what}: entry '{raw}' is a link or special file")
                name = posixpath.normpath(raw)
                if name in ("", "."):
                    continue
                if member.size > limits.MAX_FILE_BYTES:
                    raise ChartError(
                        f"{what}: entry '{raw}' is {member.size} bytes, over the limit of "
                        f"{limits.MAX_FILE_BYTES} bytes per file"
                    )
                total += member.size
                if total > MAX_UNPACKED_BYTES:
                    raise ChartError(f"{what}: unpacks to more than {MAX_UNPACKED_BYTES} bytes")
                if len(out) >= MAX_FILES:
                    raise ChartError(f"{what}: holds more than {MAX_FILES} files")
                handle = tar.extractfile(member)
                out[name] = handle.read() if handle else b""
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, OSError, zlib.error) as exc:
        raise ChartError(f"{what}: not a tar+gzip of manifests ({exc})") from None
    return out
