"""Authentication and host verification for every transport libgit2 speaks.

https takes basic auth or a token (sent as the password), ssh takes a private
key held in memory and - because libssh2 ignores ``~/.ssh/known_hosts`` - a
host key check done here against the known_hosts content of the repository
Secret. git:// and local paths need neither.

pygit2 does not pass the host key to Python, only to its C shim; we read it
from the shim's frame and the ``git_cert_hostkey`` struct layout of libgit2
>= 1.3 (raw key at a fixed offset), and refuse to connect whenever that is not
possible. Fail closed is the point.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Any

import pygit2

from tether.adapters.git.errors import GitError, HostKeyError
from tether.adapters.git.known_hosts import verify_host_key
from tether.engine.credentials import GitCredentials, strip_userinfo

_SSH_URL = re.compile(r"^ssh://(?:[^@/]+@)?(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?/")
_SCP_URL = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?!//)")

# git_cert_hostkey in libgit2 >= 1.3: parent(int) type(int) md5[16] sha1[20]
# sha256[32] raw_type(int) <pad> const char *hostkey; size_t hostkey_len.
_OFF_TYPE, _OFF_SHA1, _OFF_HOSTKEY, _OFF_HOSTKEY_LEN = 4, 24, 80, 88
_CERT_SSH_SHA1, _CERT_SSH_RAW = 2, 8


@dataclass(frozen=True)
class Endpoint:
    """Where a URL points: transport kind plus host and port for ssh."""

    kind: str  # "https", "http", "ssh", "git", "local"
    host: str | None = None
    port: int | None = None


def endpoint_of(url: str) -> Endpoint:
    lowered = url.lower()
    if lowered.startswith("ssh://"):
        match = _SSH_URL.match(url)
        host = match.group("host").strip("[]") if match else None
        port = int(match.group("port")) if match and match.group("port") else None
        return Endpoint("ssh", host, port)
    for scheme in ("https", "http", "git"):
        if lowered.startswith(scheme + "://"):
            return Endpoint(scheme)
    if lowered.startswith("file://") or url.startswith(("/", ".")):
        return Endpoint("local")
    scp = _SCP_URL.match(url)
    if scp:
        return Endpoint("ssh", scp.group("host"), None)
    return Endpoint("local")


def _presented_host_key() -> tuple[bytes | None, bytes | None]:
    """Raw key and SHA-1 of the key the server presented, read from pygit2's shim."""
    try:
        from pygit2.ffi import C, ffi
    except ImportError:  # pragma: no cover - pygit2 always ships it
        return None, None
    cert = None
    frame: FrameType | None = sys._getframe(1)
    for _ in range(6):  # the shim is two frames up; allow for wrappers
        if frame is None or "cert_i" in frame.f_locals:
            break
        frame = frame.f_back
    if frame is not None:
        cert = frame.f_locals.get("cert_i")
    if cert is None or int(cert.cert_type) != int(C.GIT_CERT_HOSTKEY_LIBSSH2):
        return None, None
    raw = ffi.cast("unsigned char *", cert)
    flags = ffi.cast("int *", raw + _OFF_TYPE)[0]
    sha1 = bytes(ffi.buffer(raw + _OFF_SHA1, 20)) if flags & _CERT_SSH_SHA1 else None
    blob = None
    if flags & _CERT_SSH_RAW and pygit2.LIBGIT2_VER >= (1, 3):
        pointer = ffi.cast("char **", raw + _OFF_HOSTKEY)[0]
        length = int(ffi.cast("size_t *", raw + _OFF_HOSTKEY_LEN)[0])
        if pointer != ffi.NULL and 0 < length < 65536:
            blob = bytes(ffi.buffer(pointer, length))
    return blob, sha1


class TetherCallbacks(pygit2.RemoteCallbacks):
    """Credentials, host key checking and push status for one operation."""

    def __init__(self, url: str, credentials: GitCredentials | None) -> None:
        super().__init__()
        self.url = url
        self.safe_url = strip_userinfo(url)
        self.creds = credentials or GitCredentials()
        self.endpoint = endpoint_of(url)
        self.attempts = 0
        self.rejected: dict[str, str] = {}

    def credentials(self, url: str, username_from_url: str | None, allowed_types: Any) -> Any:
        self.attempts += 1
        if self.attempts > 1:
            raise GitError(f"cannot reach {self.safe_url}: 401 Unauthorized (credentials rejected)")
        allowed = pygit2.enums.CredentialType(allowed_types)
        username = self.creds.username or username_from_url or "git"
        if self.creds.ssh_private_key and allowed & (
            pygit2.enums.CredentialType.SSH_KEY | pygit2.enums.CredentialType.SSH_MEMORY
        ):
            key = self.creds.ssh_private_key
            if not key.endswith("\n"):
                key += "\n"
            return pygit2.KeypairFromMemory(username, None, key, "")
        if self.creds.password and allowed & pygit2.enums.CredentialType.USERPASS_PLAINTEXT:
            return pygit2.UserPass(username, self.creds.password)
        if allowed & pygit2.enums.CredentialType.USERNAME:
            return pygit2.Username(username)
        raise GitError(f"cannot reach {self.safe_url}: 401 Unauthorized (no credentials)")

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        if self.endpoint.kind != "ssh":
            if not valid:
                raise GitError(f"cannot reach {self.safe_url}: TLS certificate not trusted")
            return True
        if not self.creds.known_hosts:
            raise HostKeyError(
                f"cannot reach {self.safe_url}: no known_hosts given for "
                f"{host.decode(errors='replace')}, refusing an unverified SSH host key"
            )
        blob, sha1 = _presented_host_key()
        problem = verify_host_key(
            self.creds.known_hosts,
            self.endpoint.host or host.decode(errors="replace"),
            self.endpoint.port,
            blob,
            sha1,
        )
        if problem:
            raise HostKeyError(f"cannot reach {self.safe_url}: {problem}")
        return True

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message
