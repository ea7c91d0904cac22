"""Keyed cosign signatures of OCI artifacts, verified with ``cryptography``.

``cosign sign --key cosign.key REGISTRY/REPO@sha256:D`` stores its signature
in the same repository under the tag ``sha256-D.sig``: an OCI manifest whose
layers are *simple-signing* payloads (JSON naming the signed manifest's
digest under ``critical.image.docker-manifest-digest``), each with the
base64 signature of the payload's bytes in the layer annotation
``dev.cosignproject.cosign/signature``. Verifying that needs only the public
key: the payload must be signed by it (ECDSA with SHA-256 for cosign's own
P-256 keys; RSA PKCS#1 v1.5 with SHA-256 and Ed25519 keys are accepted too)
and must name the digest being deployed, so a signature cannot be replayed
onto another manifest.

Not covered: keyless signatures (Fulcio certificates) and transparency-log
inclusion (Rekor), and signatures stored as OCI 1.1 referrers or Sigstore
bundles rather than under the ``.sig`` tag.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

import httpx

from tether.adapters.charts import oci, transport
from tether.adapters.charts.auth import ChartAuth
from tether.adapters.charts.errors import ChartError
from tether.adapters.charts.oci import OciChart
from tether.adapters.registry._http import authorized_get

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_TYPE = "cosign container image signature"
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_SIGNATURES = 32
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json"
)


def signature_tag(digest: str) -> str:
    """``sha256:abc`` -> ``sha256-abc.sig``, where cosign keeps the manifest's signatures."""
    return digest.replace(":", "-", 1) + ".sig"


# cryptography is imported where a key is used: its OpenSSL bindings cost about 8 MiB
# in every process, and only apps with a cosignPublicKey ever need them.


def load_key(pem: str, where: str) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, UnsupportedAlgorithm):
        raise ChartError(
            f"{where}: the repository's cosignPublicKey is not a PEM public key"
        ) from None


def signed_by(key: Any, signature: bytes, payload: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, payload)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def names_digest(payload: bytes, digest: str) -> bool:
    """The simple-signing payload signs exactly ``digest``."""
    try:
        doc = json.loads(payload)
        critical = doc["critical"]
        return bool(
            critical["type"] == SIGNATURE_TYPE
            and critical["image"]["docker-manifest-digest"] == digest
        )
    except (ValueError, KeyError, TypeError):
        return False


def verify(ref: OciChart, auth: ChartAuth, digest: str, public_key: str) -> None:
    """ChartError unless a signature of ``digest`` under its ``.sig`` tag verifies with the key."""
    where = f"{ref.noun} {ref.display}@{digest}"
    key = load_key(public_key, where)
    tag = signature_tag(digest)
    with transport.client(auth) as http:
        layers = _signature_layers(http, ref, auth, tag, where)
        for layer in layers[:MAX_SIGNATURES]:
            if not isinstance(layer, dict) or layer.get("mediaType") != SIMPLE_SIGNING:
                continue
            encoded = (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION, "")
            try:
                signature = base64.b64decode(str(encoded), validate=True)
            except binascii.Error:
                continue
            blob = str(layer.get("digest") or "")
            if not blob.startswith("sha256:") or int(layer.get("size") or 0) > MAX_PAYLOAD_BYTES:
                continue
            payload = oci._get(
                http, ref, f"{oci._base(ref)}/blobs/{blob}", auth, "a signature payload"
            ).content
            if "sha256:" + hashlib.sha256(payload).hexdigest() != blob:
                continue
            if names_digest(payload, digest) and signed_by(key, signature, payload):
                return
    raise ChartError(
        f"{where}: no cosign signature under tag {tag} verifies with the repository's "
        "cosignPublicKey"
    )


def _signature_layers(
    http: httpx.Client, ref: OciChart, auth: ChartAuth, tag: str, where: str
) -> list[Any]:
    what = f"cosign signature tag {tag}"
    try:
        response = authorized_get(
            http,
            f"{oci._base(ref)}/manifests/{tag}",
            auth.basic,
            scope=f"repository:{ref.repository}:pull",
            headers={"Accept": MANIFEST_TYPES},
        )
    except httpx.HTTPError as exc:
        raise ChartError(f"{ref.noun} registry {ref.display}: cannot read {what}: {exc}") from None
    if response.status_code == 404:
        raise ChartError(
            f"{where} is not signed: no cosign signature under tag {tag}, and the "
            "repository requires one (cosignPublicKey)"
        )
    if response.status_code != 200:
        raise oci._fail(ref, response, what)
    try:
        layers = response.json().get("layers") or []
    except (ValueError, AttributeError):
        return []
    return list(layers) if isinstance(layers, list) else []
