"""List an image repository's tags: the Docker Registry v2 API, or the ECR API.

``GET /v2/<name>/tags/list`` answers one page at a time and names the next in
a ``Link: <...>; rel="next"`` header; every page goes through the same login
dance as pulls (Basic, or a bearer token from the registry's realm). The v2
API gives names only; ECR's DescribeImages also returns each image's push time
and digest (and needs no registry login). On other registries ``pushTime``
ordering reads each image's build time instead (see ``build_times``).

Failures raise ``TagListError`` with a message that never holds a password.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urljoin

import httpx

from tether.adapters.registry._http import (
    Creds,
    authorized_get,
    best_auth_key,
    default_scheme,
    registry_error,
)
from tether.adapters.registry.providers import EcrProvider, ProviderError
from tether.adapters.registry.pull import pull_manifest
from tether.engine.images.select import Tag

_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
MAX_PAGES = 200
PAGE_SIZE = 100


class TagListError(Exception):
    """Listing failed; ``reason`` is one word (Unauthorized, NotFound, Unreachable, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def creds_from_secret(data: Mapping[str, str], host: str) -> Creds | None:
    """(username, password) for ``host`` from a pull Secret's decoded data.

    Accepts ``.dockerconfigjson`` (what a RegistryCredential writes), the
    legacy ``.dockercfg``, or ``username``+``password`` keys.
    """
    raw = data.get(".dockerconfigjson") or data.get(".dockercfg")
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise TagListError("BadSecret", "pull Secret is not valid JSON") from None
        auths = parsed.get("auths", parsed) if isinstance(parsed, dict) else {}
        key = best_auth_key([str(k) for k in auths], host) if isinstance(auths, dict) else None
        if key is None:
            return None
        entry = auths[key] if isinstance(auths[key], dict) else {}
        if entry.get("username") or entry.get("password"):
            return str(entry.get("username", "")), str(entry.get("password", ""))
        try:
            user, _, password = base64.b64decode(str(entry.get("auth", ""))).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise TagListError("BadSecret", f"pull Secret auth for {key} is not base64") from None
        return (user, password) if user or password else None
    if data.get("username") or data.get("password"):
        return data.get("username", ""), data.get("password", "")
    return None


def list_tags(
    host: str,
    repository: str,
    creds: Creds | None,
    *,
    scheme: str | None = None,
    verify: bool | str = True,
    timeout: float = 10.0,
    page_size: int = PAGE_SIZE,
    transport: httpx.BaseTransport | None = None,
) -> list[Tag]:
    """Every tag of ``host/repository``, following ``Link`` pages."""
    base = f"{scheme or default_scheme(host)}://{host}"
    url: str | None = f"{base}/v2/{repository}/tags/list?n={page_size}"
    names: list[str] = []
    pages = 0
    try:
        with httpx.Client(verify=verify, timeout=timeout, transport=transport) as client:
            while url is not None:
                pages += 1
                if pages > MAX_PAGES:
                    raise TagListError("TooManyTags", f"more than {MAX_PAGES} pages of tags")
                response = authorized_get(client, url, creds, scope=f"repository:{repository}:pull")
                if response.status_code != 200:
                    raise http_error(response, host, repository)
                try:
                    body = response.json()
                except ValueError:
                    raise TagListError("BadResponse", "tag list is not JSON") from None
                names.extend(str(t) for t in body.get("tags") or [])
                found = _NEXT.search(response.headers.get("link", ""))
                url = urljoin(base + "/", found.group(1)) if found else None
    except httpx.TimeoutException:
        raise TagListError("Timeout", f"timed out listing tags of {host}/{repository}") from None
    except httpx.HTTPError as exc:
        raise TagListError("Unreachable", f"cannot reach {host}: {type(exc).__name__}") from None
    return [Tag(n) for n in dict.fromkeys(names)]


def http_error(response: httpx.Response, host: str, repository: str) -> TagListError:
    reason = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}.get(
        response.status_code, "RegistryError"
    )
    return TagListError(reason, f"listing tags of {host}/{repository}: {registry_error(response)}")


def tag_digest(
    host: str,
    repository: str,
    tag: str,
    creds: Creds | None,
    *,
    scheme: str | None = None,
    verify: bool | str = True,
) -> str:
    """The manifest digest ``tag`` points at now (for digest pinning)."""
    auths = {host: creds} if creds else {}
    result = pull_manifest(host, f"{host}/{repository}:{tag}", auths, scheme=scheme, verify=verify)
    if not result.ok or not result.digest:
        raise TagListError("DigestUnknown", result.message or f"no digest for {tag}")
    return result.digest


def list_ecr_tags(
    provider: EcrProvider, host: str, repository: str, registry_id: str | None
) -> list[Tag]:
    """Tags of an ECR repository with push times and digests (DescribeImages, paginated).

    The client is the ECR provider's own, so region, endpoint override, static
    keys and web identity work as they do for pull tokens.
    """
    from tether.engine.registry.spec import ecr_region_of

    region = provider.region or ecr_region_of(host)
    if region is None:
        raise TagListError("BadConfig", f"no region given and {host!r} is not an ECR host")
    account = registry_id or host.split(".", 1)[0]
    try:
        client = provider._client(region)  # the provider's configured boto3 client
        pages = client.get_paginator("describe_images").paginate(
            repositoryName=repository,
            registryId=account,
            filter={"tagStatus": "TAGGED"},
        )
        tags: list[Tag] = []
        for page in pages:
            for detail in page.get("imageDetails") or []:
                pushed = detail.get("imagePushedAt")
                if isinstance(pushed, datetime) and pushed.tzinfo is None:
                    pushed = pushed.replace(tzinfo=UTC)
                for name in detail.get("imageTags") or []:
                    tags.append(
                        Tag(
                            str(name),
                            pushed if isinstance(pushed, datetime) else None,
                            str(detail.get("imageDigest", "")),
                        )
                    )
    except ProviderError as exc:
        raise TagListError(exc.reason, exc.message) from None
    except Exception as exc:
        from tether.adapters.registry.providers import _aws_error

        err = _aws_error(exc, f"ECR DescribeImages of {repository} in {region}")
        raise TagListError(err.reason, err.message) from None
    return tags
