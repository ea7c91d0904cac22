"""Repository URLs: the cache key, the URL handed to libgit2, credentials in URLs.

One bare repository serves every application that points at the same
repository, whatever spelling each uses (``.git`` suffix, trailing slash, case
of the host, scp-like ssh), so the cache key is the normalised URL.
"""

from __future__ import annotations

import hashlib
import os
import re
from urllib.parse import unquote, urlsplit

from tether.engine.credentials import GitCredentials, comparable_url, strip_userinfo


def is_local(url: str) -> bool:
    return url.startswith(("/", "./", "../", "file://")) or (
        "://" not in url and ":" not in url.split("/", 1)[0]
    )


def local_path(url: str) -> str:
    path = unquote(url[len("file://") :]) if url.startswith("file://") else url
    return os.path.abspath(path)


def cache_key(url: str) -> str:
    """The normalised URL that identifies a repository in the cache."""
    if is_local(url):
        path = local_path(url).rstrip("/")
        return "file://" + (path[: -len(".git")] if path.endswith(".git") else path)
    return comparable_url(url)


def cache_dir_name(url: str) -> str:
    key = cache_key(url)
    tail = re.sub(r"[^A-Za-z0-9._-]+", "-", key.split("://", 1)[-1])[-48:].strip("-.")
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{tail}-{digest}.git" if tail else f"{digest}.git"


def fetch_url(url: str) -> str:
    """The URL libgit2 connects to: userinfo password removed, local paths absolute."""
    if is_local(url):
        return local_path(url)
    parts = urlsplit(url) if "://" in url else None
    if parts is not None and parts.password is not None:
        user = f"{parts.username}@" if parts.username and parts.scheme.startswith("ssh") else ""
        return url.replace(parts.netloc, user + parts.netloc.rsplit("@", 1)[1], 1)
    return url


def merge_url_credentials(url: str, credentials: GitCredentials | None) -> GitCredentials | None:
    """Credentials written in the URL (``https://user:token@host``) fill any gaps."""
    if "://" not in url:
        return credentials
    parts = urlsplit(url)
    if parts.password is None:
        return credentials
    base = credentials or GitCredentials()
    return GitCredentials(
        username=base.username or unquote(parts.username or "") or None,
        password=base.password or unquote(parts.password),
        ssh_private_key=base.ssh_private_key,
        known_hosts=base.known_hosts,
    )


def safe(url: str) -> str:
    return strip_userinfo(url)
