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

from collections.abc import Iterable
from dataclasses import dataclass, field

from tether.engine.credentials import comparable_url, repository_secret_for, secret_value
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
        username=secret_value(secret, "username"),
        password=secret_value(secret, "password") or secret_value(secret, "token"),
        ca_data=secret_value(secret, "caData"),
        cert_data=secret_value(secret, "tlsClientCertData"),
        key_data=secret_value(secret, "tlsClientCertKey"),
        insecure=(secret_value(secret, "insecure") or "").lower() in TRUE,
        pass_credentials=(secret_value(secret, "passCredentials") or "").lower() in TRUE,
        enable_oci=(secret_value(secret, "enableOCI") or "").lower() in TRUE,
        declared=True,
        registry_credential=secret_value(secret, "registryCredential") or None,
        cosign_key=secret_value(secret, "cosignPublicKey") or None,
    )


def chart_auth_for(url: str, secrets: Iterable[Obj], project: str = "default") -> ChartAuth:
    """The options of the longest-prefix repository Secret of ``project``, or none."""
    secret = repository_secret_for(url, secrets, project, normalise=_comparable)
    return auth_from_secret(secret) if secret is not None else ChartAuth()
