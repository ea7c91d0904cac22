"""The multiplexed (HTTP/2) connection to an API server, replaced when httpcore wedges it.

Short requests share one HTTP/2 client (no pool scan per request). httpcore's HTTP/2
connection keeps a stream count of its own beside h2's, and a request cancelled or
failed at the wrong moment leaves the two apart (encode/httpcore#1022, #943): its
stream semaphore is then released twice ("semaphore released too many times") or
never, and every later request on that connection fails at once or waits for a stream
forever; no httpx timeout covers that wait. Tether cancels requests all the time (a
fenced shard, a bounded stop, a superseded reconcile), so such a connection is not
left to wedge the controller: a request that fails that way, or outlives every
timeout it was given, retires the client and is sent once more on a new one.

A server or a load balancer in front of it closes an HTTP/2 connection now and then
with GOAWAY (nginx after 1,000 requests by default, kube-apiserver's
``--goaway-chance``, any graceful restart). httpcore fails the requests still in
flight on it, even those the server would have answered, so a request cut off that
way is sent once more: the pool opens a new connection for it. Every request Tether
makes may be sent twice (apply and patch are idempotent, a replace carries its
resourceVersion, a repeated create or delete answers 409 or 404, which callers
expect from any race).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import httpx

log = logging.getLogger(__name__)

# httpx bounds connect, each read and each write; a request that outlives this many
# of its timeouts waits on nothing httpx bounds, such as a stream of a wedged connection.
DEADLINE_TIMEOUTS = 3
# A retired client's requests in flight get this long to end before it is closed.
RETIRE_AFTER = 30.0
# A request cut off by GOAWAY again and again: the server keeps closing connections
# before it gets to it (each new connection fills up with the requests waiting).
GOAWAY_RETRIES = 5


class WedgedConnection(Exception):
    """The HTTP/2 connection could not carry a request (its state is broken)."""


class MultiplexedConnection:
    """``send`` over the current HTTP/2 client; ``renew`` swaps in a new one.

    Shared by a ``KubeClient`` and its impersonating copies, so one replacement
    serves all of them."""

    def __init__(self, factory: Callable[[], httpx.AsyncClient], timeout: float) -> None:
        self.factory = factory
        self.client = factory()
        self.deadline = DEADLINE_TIMEOUTS * timeout
        self.renewals = 0
        self.goaways = 0  # requests sent again after their connection went away
        self._retired: list[httpx.AsyncClient] = []
        self._retiring: set[asyncio.Task[None]] = set()

    async def send(
        self, method: str, path: str, *, goaway_retries: int = GOAWAY_RETRIES, **kwargs: Any
    ) -> httpx.Response:
        """Send on the current client; a request cut off by GOAWAY is sent again up to
        ``goaway_retries`` times, then the cut-off error is raised."""
        for _ in range(goaway_retries):
            try:
                return await self._send(method, path, **kwargs)
            except httpx.RemoteProtocolError as exc:
                if not went_away(exc):
                    raise
                self.goaways += 1
        return await self._send(method, path, **kwargs)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._once(method, path, **kwargs)
        except WedgedConnection:
            try:  # once more, on the new connection
                return await self._once(method, path, **kwargs)
            except WedgedConnection as exc:
                raise httpx.TransportError(str(exc)) from exc

    async def _once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request on the current client; a wedged client is renewed before raising."""
        client = self.client
        try:
            return await self._request(client, method, path, **kwargs)
        except WedgedConnection as exc:
            self.renew(client, str(exc))
            raise

    async def _request(
        self, client: httpx.AsyncClient, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        try:
            async with asyncio.timeout(self.deadline):
                return await client.request(method, path, **kwargs)
        except TimeoutError as exc:
            raise WedgedConnection(
                f"no answer and no timeout from the connection in {self.deadline:.0f}s"
            ) from exc
        except (httpx.LocalProtocolError, ValueError) as exc:
            # Raised by httpcore's own bookkeeping, not by the server or the network.
            raise WedgedConnection(f"{type(exc).__name__}: {exc}") from exc

    def renew(self, broken: httpx.AsyncClient, why: str) -> None:
        """Replace ``broken`` (unless another request already did) and close it later."""
        if self.client is not broken:
            return
        self.renewals += 1
        log.warning("the connection to the API server is unusable (%s): opening a new one", why)
        self.client = self.factory()
        self._retired.append(broken)
        task = asyncio.create_task(self._retire(broken), name="kube-retire-connection")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire(self, client: httpx.AsyncClient) -> None:
        await asyncio.sleep(RETIRE_AFTER)
        await _close(client)
        self._retired.remove(client)

    async def aclose(self) -> None:
        for task in list(self._retiring):
            task.cancel()
        for client in [*self._retired, self.client]:
            await _close(client)
        self._retired.clear()


def went_away(exc: httpx.RemoteProtocolError) -> bool:
    """Whether the connection ended under the request (a GOAWAY, or closed right after
    one), not the request itself."""
    return any(sign in str(exc) for sign in ("ConnectionTerminated", "Server disconnected"))


async def _close(client: httpx.AsyncClient) -> None:
    """Close a client; a wedged one may never finish closing, so give it a bound."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5.0):
            await client.aclose()
