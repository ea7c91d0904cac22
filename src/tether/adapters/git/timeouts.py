"""Connect and idle timeouts for every Git network operation.

A Git server that accepts the TCP connection and then says nothing would
otherwise hold a worker thread and the repository's lock forever: libgit2
reads with no deadline by default. libgit2's server timeouts are process-wide
and apply to every transport (git://, http(s), ssh), so they are set here, once,
whenever a RepoCache is made; errors that come from them are worded with the
limit that fired.

Defaults: CONNECT_TIMEOUT 10 s to establish a connection, IDLE_TIMEOUT 30 s
without a byte from the server while reading.
"""

from __future__ import annotations

import threading

import pygit2
from pygit2.enums import Option

CONNECT_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0

_lock = threading.Lock()
_current = {"connect": CONNECT_TIMEOUT, "idle": IDLE_TIMEOUT}


def apply(connect: float | None = None, idle: float | None = None) -> None:
    """Set libgit2's connect and idle timeouts (seconds; None keeps the current value)."""
    with _lock:
        if connect is not None:
            _current["connect"] = connect
        if idle is not None:
            _current["idle"] = idle
        pygit2.option(Option.SET_SERVER_CONNECT_TIMEOUT, max(1, int(_current["connect"] * 1000)))
        pygit2.option(Option.SET_SERVER_TIMEOUT, max(1, int(_current["idle"] * 1000)))


def connect_timeout() -> float:
    return _current["connect"]


def idle_timeout() -> float:
    return _current["idle"]
