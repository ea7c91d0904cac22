"""This replica's Lease renewed, and the group's Leases listed, on a thread of their own.

The keeper runs on an ``OwnLoop`` (why: ``controller/own_loop.py``) and only
does the I/O. What the Leases mean stays on the controller's loop
(``member.py``), which reads the keeper's latest ``Sighting``; only the times
of its last renewal and listing are read from here directly, so a replica
whose loop is late to read a sighting is not fenced for being late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tether.adapters.kube import KubeClient
from tether.adapters.kube import config as kubeconfig
from tether.controller import leader
from tether.controller.own_loop import OwnLoop
from tether.controller.sharding.leases import ShardLeases
from tether.engine.objects import Obj

log = logging.getLogger(__name__)

NEVER = -1e9


@dataclass(frozen=True)
class Sighting:
    """What one pass of the keeper saw (times on ``clock``).

    ``renewed_at`` is when the last successful renewal began and ``written`` the
    member list it wrote; ``leases`` the group's Leases from the latest list that
    succeeded, begun at ``listed_at``, after that renewal. ``seq`` counts passes.
    """

    seq: int = 0
    renewed_at: float = NEVER
    written: tuple[str, ...] = ()
    leases: tuple[Obj, ...] | None = None
    listed_at: float = NEVER

    def good_until(self, deadline: float) -> float:
        """Until when the Lease may be trusted: both the renewal and the list of the
        others' claims are younger than ``deadline``."""
        return min(self.renewed_at, self.listed_at) + deadline


LeasesFor = Callable[[KubeClient], ShardLeases]


class LeaseKeeper:
    """Renews the Lease with the member list the controller ``publish``es, and lists
    the group, every ``retry_period`` (at once after a ``publish`` of a new list)."""

    def __init__(
        self,
        conn: kubeconfig.ConnectionConfig,
        leases_for: LeasesFor,
        timing: leader.LeaseTiming,
        *,
        clock: Callable[[], float] = time.monotonic,
        name: str = "shard-lease",
    ) -> None:
        self.leases_for = leases_for
        self.timing = timing
        self.clock = clock
        self.latest = Sighting()
        self.leases: ShardLeases | None = None  # the keeper's own, once it runs
        self._wanted: tuple[str, ...] = ()
        self._wake: asyncio.Event | None = None
        self._own = OwnLoop(conn, name)

    def publish(self, members: tuple[str, ...]) -> None:
        """Write ``members`` into the Lease; a new list starts a pass at once."""
        if members != self._wanted:
            self._wanted = members
            wake = self._wake
            if wake is not None:
                self._own.call_soon(wake.set)

    def start(self) -> None:
        self._own.start(self._run)

    async def stop(self) -> None:
        """End the keeper and wait for its thread: no renewal follows this."""
        await self._own.stop()

    async def _run(self, kube: KubeClient) -> None:
        self._wake = wake = asyncio.Event()
        self.leases = leases = self.leases_for(kube)
        seen = self.latest
        while True:
            wake.clear()
            seen = self.latest = await self._pass(leases, seen)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.timing.retry_period):
                    await wake.wait()

    async def _pass(self, leases: ShardLeases, seen: Sighting) -> Sighting:
        deadline = self.timing.renew_deadline / 2
        renewed_at, written = seen.renewed_at, seen.written
        wanted = self._wanted
        if wanted and (
            wanted != written or self.clock() - renewed_at >= self.timing.renew_interval
        ):
            started = self.clock()
            if await self._bounded(leases.renew(wanted, self.timing.duration), deadline):
                renewed_at, written = started, wanted
        listed_at = self.clock()
        items = await self._bounded(leases.list(), deadline)
        if items is None:
            return Sighting(seen.seq + 1, renewed_at, written, seen.leases, seen.listed_at)
        return Sighting(seen.seq + 1, renewed_at, written, tuple(items), listed_at)

    async def _bounded(self, call: Any, timeout: float) -> Any:
        try:
            async with asyncio.timeout(timeout):
                return await call
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("sharding: Leases of %s not reachable: %s", self._own.name, exc)
            return None
