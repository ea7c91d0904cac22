"""A TCP proxy between the controller and the git daemon: pass-through, a tarpit, or errors.

The apps' repoURL names this proxy from the start, so an episode reaches every
fetch the controller makes, as a slow or broken Git host (or a load balancer in
front of one) would:

- ``slow``: a tarpit. A connection's request is read and then held: nothing
  comes back until the episode ends or ``hold`` seconds pass (longer than the
  controller's Git idle timeout), so fetches started early in the episode hit
  that timeout and later ones are merely slow.
- ``errors``: each connection is either reset at once or answered with bytes
  that are not the Git protocol, then closed: fetches fail with a protocol error.

Outside an episode bytes are forwarded unchanged, both ways.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import threading
import time
from collections import Counter

from bench.harness import log

from tether.adapters.git import timeouts

MODES = ("slow", "errors")
GARBAGE = b"HTTP/1.1 502 Bad Gateway\r\n\r\n\x00\xff not git at all \xfe\x00\n"


class GitProxy:
    """Listens on 127.0.0.1 (``port``), forwards to ``upstream_port``; ``fault``/``heal``."""

    def __init__(self, upstream_port: int, hold: float | None = None) -> None:
        self.upstream_port = upstream_port
        self.hold = hold if hold is not None else timeouts.IDLE_TIMEOUT + 10.0
        self.mode: str | None = None
        self.counts: Counter[str] = Counter()
        self._turn = itertools.count()
        self._closing = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._server.settimeout(0.5)
        self._accepter = threading.Thread(target=self._accept, name="git-proxy", daemon=True)
        self._accepter.start()

    def url(self, path: str) -> str:
        return f"git://127.0.0.1:{self.port}/{path}"

    def fault(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown Git fault {mode}; known: {', '.join(MODES)}")
        self.mode = mode
        log(f"git proxy: {mode}")

    def heal(self) -> None:
        self.mode = None
        log("git proxy: pass-through")

    def close(self) -> None:
        self._closing.set()
        self._accepter.join(5)
        self._server.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            mode = self.mode
            self.counts[mode or "forwarded"] += 1
            threading.Thread(target=self._serve, args=(client, mode), daemon=True).start()

    def _serve(self, client: socket.socket, mode: str | None) -> None:
        with client:
            if mode == "errors":
                self._error(client)
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                return  # the daemon is down (git-down): the client sees the connection close
            with upstream:
                upstream.settimeout(None)
                if mode == "slow" and not self._tarpit(client):
                    return
                back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
                back.start()
                _pump(client, upstream)
                back.join(self.hold)

    def _error(self, client: socket.socket) -> None:
        if next(self._turn) % 2 == 0:
            # SO_LINGER 0: close sends a RST, as a crashed or overloaded server would.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        with contextlib.suppress(OSError):
            client.settimeout(2)
            client.recv(4096)
            client.sendall(GARBAGE)

    def _tarpit(self, client: socket.socket) -> bool:
        """Hold the connection while the episode lasts (at most ``hold`` s); False: drop it."""
        until = time.monotonic() + self.hold
        while self.mode == "slow" and time.monotonic() < until and not self._closing.is_set():
            time.sleep(0.2)
        return self.mode != "slow" and time.monotonic() < until


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)
