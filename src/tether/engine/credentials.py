"""Choosing Git credentials for a repository URL from labelled Secrets.

Repository credentials live in ordinary Kubernetes Secrets labelled
``tether.dev/secret-type: repository``; each names a URL (or a URL prefix that
covers a whole organisation) and holds a username/password or token, an SSH
private key and the known_hosts content that pins the server's host key.

Choosing is kept pure (a list of Secret dicts in, a dataclass out) so that the
rules - longest prefix wins, matches only at a path boundary, no secret ever
printed - can be tested without a cluster or a Git server.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.engine.objects import Obj

SECRET_TYPE_LABEL = "tether.dev/secret-type"
REPOSITORY_SECRET_TYPE = "repository"

_SCP_LIKE = re.compile(r"^(?P<user>[^@/]+@)?(?P<host>[^:/]+):(?P<path>(?!//).*)$")


@dataclass(frozen=True)
class GitCredentials:
    """How to authenticate to one repository; secrets are kept out of ``repr``."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssh_private_key: str | None = field(default=None, repr=False)
    known_hosts: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.username or self.password or self.ssh_private_key or self.known_hosts)


def strip_userinfo(url: str) -> str:
    """The URL without ``user:password@`` so that it is safe to print or log."""
    scheme_sep = url.find("://")
    if scheme_sep < 0:
        return url
    rest = url[scheme_sep + 3 :]
    authority_end = len(rest)
    for sep in "/?#":
        pos = rest.find(sep)
        if pos >= 0:
            authority_end = min(authority_end, pos)
    authority = rest[:authority_end]
    if "@" not in authority:
        return url
    return url[: scheme_sep + 3] + authority.rsplit("@", 1)[1] + rest[authority_end:]


def comparable_url(url: str) -> str:
    """A form of a repository URL used for prefix matching.

    Userinfo is dropped, the scheme and host are lower-cased, scp-like
    ``git@host:org/repo`` becomes ``ssh://host/org/repo``, and a trailing
    ``/`` or ``.git`` is removed, so ``https://Host/org/repo.git`` and
    ``https://host/org/repo`` compare equal.
    """
    url = url.strip()
    if "://" not in url:
        scp = _SCP_LIKE.match(url)
        if scp and not url.startswith(("/", ".")):
            url = f"ssh://{scp.group('host')}/{scp.group('path')}"
    url = strip_userinfo(url)
    if "://" in url:
        scheme, rest = url.split("://", 1)
        host, slash, path = rest.partition("/")
        url = f"{scheme.lower()}://{host.lower()}{slash}{path}"
    url = url.rstrip("/")
    if url.endswith(".git"):
        url = url[: -len(".git")]
    return url.rstrip("/")


def url_matches_prefix(url: str, prefix: str) -> bool:
    """Whether ``prefix`` covers ``url`` at a path boundary.

    ``https://github.com/org`` covers ``https://github.com/org/app`` but not
    ``https://github.com/organisation/app``: credentials must never leak to a
    neighbouring owner because their names share a prefix.
    """
    target = comparable_url(url)
    base = comparable_url(prefix)
    if not base:
        return False
    return target == base or target.startswith(base + "/")


def secret_value(secret: Mapping[str, Any], key: str) -> str | None:
    """One key of a Secret as text (``stringData`` first, then base64 ``data``), or None."""
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


def is_repository_secret(secret: Obj) -> bool:
    meta = secret.get("metadata") or {}
    labels = meta.get("labels") or {}
    return secret.get("kind", "Secret") == "Secret" and (
        labels.get(SECRET_TYPE_LABEL) == REPOSITORY_SECRET_TYPE
    )


def credentials_from_secret(secret: Obj) -> GitCredentials:
    """Decode the credential fields of one repository Secret (base64 ``data``)."""
    return GitCredentials(
        username=secret_value(secret, "username"),
        password=secret_value(secret, "password") or secret_value(secret, "token"),
        ssh_private_key=secret_value(secret, "sshPrivateKey"),
        known_hosts=secret_value(secret, "knownHosts"),
    )


def credentials_for(
    url: str, secrets: Iterable[Obj], project: str = "default"
) -> GitCredentials | None:
    """The credentials whose ``data.url`` is the longest prefix of ``url``.

    Secrets without the repository label, without a URL, or whose URL does not
    cover ``url`` are ignored, and so are Secrets of another project: a
    Secret's ``project`` key (as in Argo CD) names the one project whose apps
    may use it, and a Secret without one serves the ``default`` project only,
    so a team's token is never lent to another team's app. Ties on length go
    to the Secret that sorts first by namespace/name so that the choice does
    not depend on list order.
    """
    secret = repository_secret_for(url, secrets, project)
    return credentials_from_secret(secret) if secret is not None else None


def repository_secret_for(
    url: str,
    secrets: Iterable[Obj],
    project: str = "default",
    normalise: Callable[[str], str] = lambda u: u,
) -> Obj | None:
    """The repository Secret of ``project`` whose ``url`` is the longest prefix of
    ``url`` (both passed through ``normalise`` first, e.g. to one OCI spelling), or
    None; see ``credentials_for`` for the rules."""
    best: tuple[int, str, Obj] | None = None
    target = normalise(url)
    for secret in secrets:
        if not is_repository_secret(secret):
            continue
        prefix = secret_value(secret, "url")
        if not prefix or not url_matches_prefix(target, normalise(prefix)):
            continue
        if (secret_value(secret, "project") or "default") != project:
            continue
        meta = secret.get("metadata") or {}
        ident = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        length = len(comparable_url(normalise(prefix)))
        if best is None or length > best[0] or (length == best[0] and ident < best[1]):
            best = (length, ident, secret)
    return best[2] if best else None
