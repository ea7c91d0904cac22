"""Bearer tokens read from a file that someone else rotates.

In a Pod the ServiceAccount token is a projected, bound token: the kubelet
writes a new one before the old one expires (about an hour by default), and
an API server with ``--service-account-extend-token-expiration`` off refuses
the old one soon after. A client that read the file once at start stops
working an hour later. client-go re-reads the file every minute; this does
the same and more promptly:

- the file is looked at (one ``stat``) at most once a second and read again
  as soon as its inode, size or modification time changes: the kubelet swaps
  the ``..data`` symlink, so a rotation changes the inode;
- it is read again at least every ``max_age`` seconds in any case;
- a 401 Unauthorized reads it again at once and, when the token changed,
  sends the request once more with the new one.

A file that cannot be read keeps the last good token (the next request tries
again), so a rotation caught half-written never drops a working client.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Generator

import httpx

log = logging.getLogger(__name__)

CHECK_EVERY = 1.0
MAX_AGE = 60.0


class TokenFile:
    """The current token in ``path``, re-read when the file changes."""

    def __init__(
        self,
        path: str,
        *,
        initial: str | None = None,
        check_every: float = CHECK_EVERY,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.check_every = check_every
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._token = initial or ""
        self._stamp: tuple[int, int, int] | None = None
        self._read_at = float("-inf")
        self._checked_at = float("-inf")
        self.reads = 0
        if initial is None:
            self.token(force=True)
        else:
            self._stamp = self._stat()
            self._read_at = self._checked_at = clock()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)  # follows the kubelet's ..data symlink
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def token(self, *, force: bool = False) -> str:
        """The token, read again when forced, stale, or the file changed."""
        with self._lock:
            now = self._clock()
            stale = now - self._read_at >= self.max_age
            if not force and not stale and now - self._checked_at < self.check_every:
                return self._token
            self._checked_at = now
            stamp = self._stat()
            if not force and not stale and stamp == self._stamp:
                return self._token
            try:
                with open(self.path, encoding="utf-8") as handle:
                    fresh = handle.read().strip()
            except OSError as exc:
                log.warning("cannot read the token file %s: %s", self.path, exc.strerror)
                return self._token
            if not fresh:
                return self._token  # caught between truncate and write
            self._token, self._stamp, self._read_at = fresh, stamp, now
            self.reads += 1
            return self._token


class TokenFileAuth(httpx.Auth):
    """``Authorization: Bearer`` from a :class:`TokenFile`, retried once after a 401
    when the file holds a newer token."""

    requires_request_body = True  # so the request can be sent again after a 401

    def __init__(self, source: TokenFile) -> None:
        self.source = source

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.source.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        fresh = self.source.token(force=True)
        if fresh != token:
            request.headers["Authorization"] = f"Bearer {fresh}"
            yield request
