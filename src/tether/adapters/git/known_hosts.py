"""Checking an SSH server's host key against known_hosts content we were given.

libssh2 (inside libgit2) does not read ``~/.ssh/known_hosts`` and reports every
SSH host key as "not valid", so without our own check any man in the middle
would be accepted. libgit2 hands us the raw key the server presented (or at least its SHA-1
fingerprint); we compare it with the keys that the repository's known_hosts
lists for that host (plain or hashed ``|1|`` names,
``[host]:port`` forms, ``@revoked`` markers honoured).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownHostKey:
    key_type: str
    blob: bytes
    revoked: bool

    @property
    def sha1(self) -> bytes:
        return hashlib.sha1(self.blob).digest()


def host_patterns(host: str, port: int | None) -> list[str]:
    """Names under which OpenSSH records ``host`` (``[host]:port`` off port 22)."""
    if port and port != 22:
        return [f"[{host}]:{port}"]
    return [host]


def _hashed_match(entry: str, name: str) -> bool:
    parts = entry.split("|")
    if len(parts) != 4 or parts[1] != "1":
        return False
    try:
        salt = base64.b64decode(parts[2])
        expected = base64.b64decode(parts[3])
    except binascii.Error:
        return False
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(digest, expected)


def _pattern_matches(pattern: str, name: str) -> bool:
    """OpenSSH host patterns: only ``*`` and ``?`` are special (``[`` is literal)."""
    regex = "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern.lower()
    )
    return re.fullmatch(regex, name.lower()) is not None


def _name_matches(field: str, names: list[str]) -> bool:
    if field.startswith("|1|"):
        return any(_hashed_match(field, name) for name in names)
    matched = False
    for pattern in field.split(","):
        negated = pattern.startswith("!")
        pattern = pattern[1:] if negated else pattern
        if any(_pattern_matches(pattern, name) for name in names):
            if negated:
                return False
            matched = True
    return matched


def keys_for_host(known_hosts: str, host: str, port: int | None) -> list[KnownHostKey]:
    """All keys that ``known_hosts`` lists for ``host`` (and port)."""
    names = host_patterns(host, port)
    keys: list[KnownHostKey] = []
    for raw in known_hosts.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        revoked = False
        if fields[0].startswith("@"):
            revoked = fields[0] == "@revoked"
            if fields[0] not in ("@revoked", "@cert-authority"):
                continue
            if fields[0] == "@cert-authority":
                continue  # certificate authorities are not supported by libssh2
            fields = fields[1:]
        if len(fields) < 3 or not _name_matches(fields[0], names):
            continue
        try:
            blob = base64.b64decode(fields[2], validate=True)
        except binascii.Error:
            continue
        keys.append(KnownHostKey(key_type=fields[1], blob=blob, revoked=revoked))
    return keys


def verify_host_key(
    known_hosts: str,
    host: str,
    port: int | None,
    blob: bytes | None,
    sha1: bytes | None,
) -> str | None:
    """``None`` when the presented key is known, else the reason it is refused.

    ``blob`` is the raw key the server presented (compared exactly when libgit2
    gives it to us), ``sha1`` its fingerprint (the fallback).
    """
    where = host_patterns(host, port)[0]
    keys = keys_for_host(known_hosts, host, port)
    if not keys:
        return f"host {where} is not in known_hosts"
    if blob is None and sha1 is None:
        return f"the host key of {where} could not be read, refusing to connect"
    for key in keys:
        same = (
            hmac.compare_digest(key.blob, blob)
            if blob is not None
            else hmac.compare_digest(key.sha1, sha1 or b"")
        )
        if same:
            return f"host key of {where} is revoked in known_hosts" if key.revoked else None
    return (
        f"host key of {where} does not match known_hosts "
        "(possible man-in-the-middle, or the server's key changed)"
    )
