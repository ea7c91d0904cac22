"""Credentials and TLS options for a chart repository, from repository Secrets.

Chart repositories use the same labelled Secrets as Git repositories
(``tether.dev/secret-type: repository``, Argo CD's keys): ``url``,
``username``, ``password``, ``project``, and for charts also ``type: helm``,
``enableOCI: "true"`` (a ``repoURL`` without a scheme is an OCI registry
path), ``tlsClientCertData``/``tlsClientCertKey`` (PEM), ``caData`` (PEM of
the CAs that sign the repository's certificate), ``insecure: "true"`` (skip
certificate checks) and ``passCredentials: "true"`` (send the password to
chart download URLs on other hosts too, as Helm's ``--pass-credentials``)
and ``registryCredential: NAME`` (an OCI registry's login is the one that
RegistryCredential keeps fresh, e.g. an ECR token: read from the pull Secret
it writes into the app's destination namespace), and ``cosignPublicKey`` (PEM:
every OCI manifest artifact from the repository must carry a cosign signature
made with that key).

The rules are the Git ones: the longest URL prefix at a path boundary wins,
and a Secret serves only the project its ``project`` key names (``default``
without one). An OCI URL matches whether the Secret's ``url`` is written
with ``oci://`` or without.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.engine.credentials import comparable_url, is_repository_secret, url_matches_prefix
from tether.engine.objects import Obj

TRUE = ("true", "yes", "1")


@dataclass(frozen=True)
class ChartAuth:
    """How to reach one chart repository; secret material is kept out of ``repr``."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_data: str | None = None
    cert_data: str | None = None
    key_data: str | None = field(default=None, repr=False)
    insecure: bool = False
    pass_credentials: bool = False
    enable_oci: bool = False
    declared: bool = False  # a repository Secret names this repository
    registry_credential: str | None = None  # take the login from its pull Secret
    cosign_key: str | None = None  # PEM public key every OCI artifact must be signed with

    @property
    def basic(self) -> tuple[str, str] | None:
        if self.username or self.password:
            return (self.username or "", self.password or "")
        return None

    def secrets(self) -> list[str]:
        """Values to scrub from any text shown to users."""
        return [s for s in (self.password, self.key_data) if s]


def _decode(secret: Mapping[str, Any], key: str) -> str | None:
    string_data = secret.get("stringData") or {}
    if isinstance(string_data, Mapping) and string_data.get(key) is not None:
        return str(string_data[key])
    data = secret.get("data") or {}
    raw = data.get(key) if isinstance(data, Mapping) else None
    if raw is None:
        return None
    try:
        return base64.b64decode(str(raw), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def as_oci(url: str) -> str:
    """``oci://host/path`` for ``host/path`` or ``oci://host/path`` (for matching only)."""
    bare = url.strip()
    if bare.lower().startswith("oci://"):
        bare = bare[len("oci://") :]
    return "oci://" + bare.strip("/")


def is_oci(url: str) -> bool:
    """An OCI chart source: ``oci://...``, or a URL with no scheme at all."""
    url = url.strip()
    return url.lower().startswith("oci://") or "://" not in url


def _comparable(url: str) -> str:
    return comparable_url(as_oci(url) if is_oci(url) else url)


def auth_from_secret(secret: Obj) -> ChartAuth:
    return ChartAuth(
        username=_decode(secret, "username"),
        password=_decode(secret, "password") or _decode(secret, "token"),
        ca_data=_decode(secret, "caData"),
        cert_data=_decode(secret, "tlsClientCertData"),
        key_data=_decode(secret, "tlsClientCertKey"),
        insecure=(_decode(secret, "insecure") or "").lower() in TRUE,
        pass_credentials=(_decode(secret, "passCredentials") or "").lower() in TRUE,
        enable_oci=(_decode(secret, "enableOCI") or "").lower() in TRUE,
        declared=True,
        registry_credential=_decode(secret, "registryCredential") or None,
        cosign_key=_decode(secret, "cosignPublicKey") or None,
    )


def chart_auth_for(url: str, secrets: Iterable[Obj], project: str = "default") -> ChartAuth:
    """The options of the longest-prefix repository Secret of ``project``, or none."""
    best: tuple[int, str, Obj] | None = None
    target = _comparable(url)
    for secret in secrets:
        if not is_repository_secret(secret):
            continue
        prefix = _decode(secret, "url")
        if not prefix or not url_matches_prefix(target, _comparable(prefix)):
            continue
        if (_decode(secret, "project") or "default") != project:
            continue
        meta = secret.get("metadata") or {}
        ident = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        length = len(_comparable(prefix))
        if best is None or length > best[0] or (length == best[0] and ident < best[1]):
            best = (length, ident, secret)
    return auth_from_secret(best[2]) if best else ChartAuth()
