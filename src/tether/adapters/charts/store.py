"""Chart archives cached on disk by digest, and unpacked into memory safely.

A chart version's archive never changes under its digest, so it is fetched
once per controller (``<cache dir>/charts/sha256-<hex>.tgz``) and every app,
every render and every restart reuses it. Unpacking refuses links, device
files and paths that leave the archive, and bounds size and file count: a
chart is as untrusted as a repository.

The cache is the controller's own disk, and it can fail under a running
controller: a full disk is named as such (never read as the repository's
fault), a write that fails leaves nothing behind, and a directory deleted by a
clean-up job is a cache miss that is fetched again, with no restart.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import os
import posixpath
import tarfile
import tempfile
import threading
from pathlib import Path

from tether.adapters.charts.errors import ChartError

MAX_UNPACKED_BYTES = 64 * 1024 * 1024
MAX_FILES = 10_000


def cache_write_failure(exc: OSError, cache: str = "chart cache") -> str:
    """Why writing the controller's ``cache`` failed, in words, without its paths."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the controller's {cache} is out of disk space (No space left on device)"
    why = exc.strerror or type(exc).__name__
    return f"cannot write the controller's {cache} ({why})"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ChartStore:
    """``digest -> archive bytes`` in a directory (or only in memory without one)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _path(self, digest: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / digest.replace(":", "-", 1)

    def get(self, digest: str) -> bytes | None:
        if not digest:
            return None
        with self._lock:
            if digest in self._memory:
                return self._memory[digest]
        path = self._path(digest)
        if path is None:
            return None
        try:
            data = path.read_bytes()
        except OSError:
            return None  # not cached, deleted meanwhile or unreadable: fetch again
        if sha256(data) != digest:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)  # a torn or tampered file: fetch again
            return None
        return data

    def put(self, data: bytes, what: str = "chart archive") -> str:
        """Keep ``data`` under its digest; a ChartError naming ``what`` when the disk refuses."""
        digest = sha256(data)
        path = self._path(digest)
        if path is None:
            with self._lock:
                self._memory[digest] = data
            return digest
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)  # a torn copy would only take the space a retry needs
            raise ChartError(f"{what}: {cache_write_failure(exc)}") from None
        return digest


def unpack(archive: bytes, what: str) -> dict[str, bytes]:
    """``{path in the archive: bytes}`` of a chart archive (``<chart>/Chart.yaml``, ...)."""
    out: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                name = posixpath.normpath(member.name)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise ChartError(f"{what}: '{member.name}' is not a regular file")
                if name.startswith(("../", "/")) or name == "..":
                    raise ChartError(f"{what}: '{member.name}' leaves the chart")
                total += member.size
                if total > MAX_UNPACKED_BYTES or len(out) >= MAX_FILES:
                    raise ChartError(f"{what}: unpacks to more than {MAX_UNPACKED_BYTES} bytes")
                handle = tar.extractfile(member)
                out[name] = handle.read() if handle else b""
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, OSError) as exc:
        raise ChartError(f"{what}: not a chart archive ({exc})") from None
    return out


def chart_root(files: dict[str, bytes], what: str) -> str:
    """The top directory holding ``Chart.yaml``."""
    roots = sorted(
        n.split("/", 1)[0] for n in files if n.count("/") == 1 and n.endswith("/Chart.yaml")
    )
    if not roots:
        raise ChartError(f"{what}: no Chart.yaml in the archive")
    return roots[0]
