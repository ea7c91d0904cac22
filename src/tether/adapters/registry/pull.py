"""What a kubelet image pull sees: resolve the manifest with the pod's pull secrets.

Tether uses this to prove that the secret it wrote actually lets a pod start,
and the kwok image-pull simulator uses it to fail pods with the same
ErrImagePull messages a real node would show, against a real registry. Only the
manifest is fetched: authorization and existence are decided there, and layer
downloads add nothing to either question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from tether.adapters.registry._http import (
    Creds,
    authorized_get,
    best_auth_key,
    default_scheme,
    registry_error,
)
from tether.engine.registry.spec import parse_image

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)

ERR_IMAGE_PULL = "ErrImagePull"


@dataclass(frozen=True)
class PullResult:
    ok: bool
    reason: str  # "" when ok, else "ErrImagePull" (kubelet's waiting reason)
    message: str
    digest: str = ""


def pull_manifest(
    host: str | None,
    image_ref: str,
    auths: Mapping[str, Creds],
    *,
    scheme: str | None = None,
    verify: bool | str = True,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> PullResult:
    """Resolve ``image_ref`` like kubelet, choosing credentials from ``auths``.

    ``host`` is the address to contact (None: the image's own registry), so a
    simulator can serve e.g. ECR image names from a local registry. ``auths`` maps
    registry hosts or patterns (as in a .dockerconfigjson) to (username, password);
    the most specific key matching the image's registry is used.
    """
    try:
        ref = parse_image(image_ref)
    except ValueError as exc:
        return PullResult(False, "InvalidImageName", str(exc))
    address = host or ref.host
    key = best_auth_key(list(auths), ref.host, f"{ref.host}/{ref.repository}")
    if key is None and address != ref.host:
        key = best_auth_key(list(auths), address, f"{address}/{ref.repository}")
    creds = auths[key] if key is not None else None
    url = f"{scheme or default_scheme(address)}://{address}/v2/{ref.repository}/manifests/"
    url += ref.reference
    prefix = f'Failed to pull image "{image_ref}": '
    try:
        with httpx.Client(verify=verify, timeout=timeout, transport=transport) as client:
            response = authorized_get(
                client,
                url,
                creds,
                scope=f"repository:{ref.repository}:pull",
                headers={"Accept": MANIFEST_TYPES},
            )
    except httpx.TimeoutException:
        return PullResult(False, ERR_IMAGE_PULL, f"{prefix}timed out connecting to {address}")
    except httpx.HTTPError as exc:
        return PullResult(False, ERR_IMAGE_PULL, f"{prefix}cannot reach {address}: {exc}")
    if response.status_code == 200:
        digest = response.headers.get("docker-content-digest", "")
        return PullResult(True, "", f'Successfully pulled image "{image_ref}"', digest)
    if response.status_code == 401 and creds is None:
        detail = "authorization failed: no basic auth credentials"
    else:
        detail = registry_error(response)
    return PullResult(False, ERR_IMAGE_PULL, prefix + detail)
