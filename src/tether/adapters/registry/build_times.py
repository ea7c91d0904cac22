"""When each tag's image was built, from any Docker Registry v2: the config's ``created``.

The v2 API keeps no push times, so ``pushTime`` ordering on a registry other
than ECR uses the time Argo CD Image Updater's ``newest-build`` strategy
uses: the ``created`` field of the image config blob, written by the build
tool. It is the build time, not the push time: re-tagging or re-pushing an old
image does not make it newer, and reproducible builds (ko, Bazel, Nix,
``SOURCE_DATE_EPOCH``) write a fixed time, which leaves those tags tied.

Per tag this is one manifest GET; the config is read only for a manifest
digest not seen before (a digest's config never changes, so the answer is
remembered for the life of the process). An image index (multi-arch) is
followed to its linux/amd64 image, or its first one. A registry that asks for
a bearer token gets one exchange per listing, not one per tag.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx

from tether.adapters.registry._http import Creds, authorized_get, default_scheme
from tether.adapters.registry.pull import MANIFEST_TYPES
from tether.adapters.registry.tags import TagListError, http_error
from tether.engine.images.select import Tag

# Reading every config is one request per tag; past this many candidates the
# policy must narrow filterTags (a cap on registry load, and on scan time).
MAX_TAGS = 1000
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
CACHE_SIZE = 50_000
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


class BuildTimes:
    """Thread-safe; one per controller, so the per-digest answers outlive a scan."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._cache: OrderedDict[tuple[str, str, str], datetime | None] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.configs_read = 0  # configs fetched (cache misses), for tests and metrics

    def annotate(
        self,
        host: str,
        repository: str,
        tags: Iterable[Tag],
        creds: Creds | None,
        *,
        scheme: str | None = None,
        verify: bool | str = True,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> list[Tag]:
        """``tags`` with ``created`` (and ``digest``) filled in; None where the config has none."""
        tags = list(tags)
        if len(tags) > MAX_TAGS:
            raise TagListError(
                "TooManyTags",
                f"{len(tags)} tags would each need their image config read for pushTime "
                f"ordering (at most {MAX_TAGS}); narrow filterTags",
            )
        base = f"{scheme or default_scheme(host)}://{host}/v2/{repository}"
        session = _Session(creds, f"repository:{repository}:pull")
        out = []
        try:
            with httpx.Client(verify=verify, timeout=timeout, transport=transport) as client:
                for tag in tags:
                    digest, created = self._one(client, session, base, host, repository, tag.name)
                    out.append(replace(tag, created=created, digest=tag.digest or digest))
        except httpx.TimeoutException:
            raise TagListError(
                "Timeout", f"timed out reading images of {host}/{repository}"
            ) from None
        except httpx.HTTPError as exc:
            raise TagListError(
                "Unreachable", f"cannot reach {host}: {type(exc).__name__}"
            ) from None
        return out

    def _one(
        self,
        client: httpx.Client,
        session: _Session,
        base: str,
        host: str,
        repository: str,
        tag: str,
    ) -> tuple[str, datetime | None]:
        response = session.get(client, f"{base}/manifests/{tag}", MANIFEST_TYPES)
        if response.status_code == 404:  # deleted since the listing
            return "", None
        if response.status_code != 200:
            raise http_error(response, host, repository)
        body = _bounded(response)
        digest = response.headers.get("docker-content-digest") or _sha256(body)
        key = (host, repository, digest)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return digest, self._cache[key]
        created = self._created(client, session, base, host, repository, _json(body))
        with self._lock:
            self.configs_read += 1
            self._cache[key] = created
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return digest, created

    def _created(
        self,
        client: httpx.Client,
        session: _Session,
        base: str,
        host: str,
        repository: str,
        manifest: dict[str, Any],
    ) -> datetime | None:
        if manifest.get("mediaType") in _INDEX_TYPES or "manifests" in manifest:
            chosen = _platform_manifest(manifest)
            if chosen is None:
                return None
            response = session.get(client, f"{base}/manifests/{chosen}", MANIFEST_TYPES)
            if response.status_code != 200:
                raise http_error(response, host, repository)
            manifest = _json(_bounded(response))
        config = (manifest.get("config") or {}).get("digest")
        if not isinstance(config, str) or not config.startswith("sha256:"):
            return None
        response = session.get(client, f"{base}/blobs/{config}", "*/*")
        if response.status_code != 200:
            raise http_error(response, host, repository)
        return parse_created(_json(_bounded(response)).get("created"))


class _Session:
    """Reuses the first bearer token for every later request of one listing."""

    def __init__(self, creds: Creds | None, scope: str) -> None:
        self.creds = creds
        self.scope = scope
        self.authorization = ""

    def get(self, client: httpx.Client, url: str, accept: str) -> httpx.Response:
        headers = {"Accept": accept}
        if self.authorization:
            response = client.get(url, headers={**headers, "Authorization": self.authorization})
            if response.status_code != 401:
                return response
        response = authorized_get(client, url, self.creds, scope=self.scope, headers=headers)
        sent = response.request.headers.get("authorization", "")
        self.authorization = sent if sent.lower().startswith("bearer ") else ""
        return response


def _platform_manifest(index: dict[str, Any]) -> str | None:
    entries = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
    images = [
        m
        for m in entries
        if (m.get("platform") or {}).get("os") != "unknown"  # BuildKit's attestations
        and isinstance(m.get("digest"), str)
    ]
    for entry in images:
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return str(entry["digest"])
    return str(images[0]["digest"]) if images else None


def parse_created(value: object) -> datetime | None:
    """An RFC 3339 ``created`` (nanoseconds allowed) as an aware datetime; None if unusable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    date, dot, rest = text.partition(".")
    if dot:  # Go writes up to nine fractional digits; Python reads six
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{date}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _bounded(response: httpx.Response) -> bytes:
    body = response.content
    if len(body) > MAX_DOCUMENT_BYTES:
        raise TagListError("BadResponse", "an image manifest or config is larger than 4 MiB")
    return body


def _json(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        raise TagListError("BadResponse", "an image manifest or config is not JSON") from None
    if not isinstance(parsed, dict):
        raise TagListError("BadResponse", "an image manifest or config is not a JSON object")
    return parsed


def _sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()
