"""Leader election on a ``coordination.k8s.io/v1`` Lease: one replica reconciles.

Two controller replicas that both reconciled would fight: each would sync,
record history and refresh registry pull Secrets, and every change would be
applied twice. The replicas share one Lease in the app namespace; the one
named in ``holderIdentity`` runs the reconcilers and the registry credential
reconciler, the others keep their live cache warm and serve the API and UI
from it, and contend for the Lease every ``retry_period``.

The rules are client-go's, so they hold with clocks that disagree:

- A Lease held by someone else is expired when this replica has seen the same
  record (holder and ``renewTime``) for ``leaseDurationSeconds`` by its own
  monotonic clock; the timestamps written in the Lease are never compared
  with the local clock.
- Every write is a PUT carrying the ``resourceVersion`` that was read, so of
  two replicas racing for an expired Lease exactly one wins (the other gets
  409 Conflict and stays a follower).
- The leader renews every ``renew_interval``; if it cannot renew for
  ``renew_deadline`` (shorter than the lease duration) it stops reconciling
  before anyone else may take over, so two leaders never act at once.
- A graceful stop releases the Lease (no holder, duration 1 s), so a follower
  takes over on its next try instead of waiting for expiry. A crashed
  leader's Lease is taken over once it expires.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tether.adapters.kube import ApiError, KubeClient
from tether.engine.objects import Obj

log = logging.getLogger(__name__)

API_VERSION = "coordination.k8s.io/v1"
KIND = "Lease"
LEASE_NAME = "tether-controller"

Callback = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class LeaseTiming:
    """How long a Lease lasts and how often it is renewed or contended for (seconds)."""

    duration: float = 15.0
    renew_interval: float = 5.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.renew_interval < self.renew_deadline < self.duration:
            raise ValueError("need 0 < renew_interval < renew_deadline < duration")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be positive")


def default_identity() -> str:
    """The Pod's name when the Downward API gives it (``POD_NAME``), else host name and pid."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def micro_time(at: datetime | None = None) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _noop() -> None:
    return None


class LeaderElector:
    """Contends for the Lease and runs ``on_started`` / ``on_stopped`` as leadership changes.

    ``run()`` never returns on its own: it acquires, leads until it loses the
    Lease, and contends again. Cancelling it (a crash, in tests) leaves the
    Lease as it is; ``release()`` hands it over at once.
    """

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        *,
        name: str = LEASE_NAME,
        identity: str | None = None,
        timing: LeaseTiming | None = None,
        on_started: Callback = _noop,
        on_stopped: Callback = _noop,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.timing = timing or LeaseTiming()
        self.on_started = on_started
        self.on_stopped = on_stopped
        self.clock = clock
        self.leading = False
        self.holder: str | None = None
        self.transitions = 0
        self._observed: dict[str, Any] | None = None
        self._observed_at = 0.0

    # -- public -------------------------------------------------------------
    async def run(self) -> None:
        while True:
            await self._acquire()
            self.leading = True
            log.info("leader election: %s now leads (Lease %s)", self.identity, self.name)
            await self.on_started()
            await self._renew_until_lost()
            self.leading = False
            log.warning("leader election: %s lost the Lease %s", self.identity, self.name)
            await self.on_stopped()

    async def release(self) -> bool:
        """Give the Lease up if this replica holds it, so a follower takes over now."""
        self.leading = False
        for attempt in range(3):
            try:
                return await self._release()
            except Exception as exc:  # a connection broken by a cancelled request: retry
                log.warning("leader election: releasing the Lease failed: %s", exc)
                await asyncio.sleep(0.2 * (attempt + 1))
        return False

    async def _release(self) -> bool:
        lease = await self.kube.get_or_none(API_VERSION, KIND, self.name, self.namespace)
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return False
        spec = dict(lease.get("spec") or {})
        spec.pop("holderIdentity", None)
        spec["leaseDurationSeconds"] = 1
        spec["renewTime"] = micro_time()
        try:
            await self.kube.replace({**lease, "spec": spec})
        except ApiError as exc:
            if exc.status == 409:  # renewed or taken meanwhile: not ours to release
                return False
            raise
        log.info("leader election: %s released the Lease %s", self.identity, self.name)
        return True

    # -- the loop -------------------------------------------------------------
    async def _acquire(self) -> None:
        while not await self._attempt():
            await asyncio.sleep(self._next_try())

    async def _renew_until_lost(self) -> None:
        renewed = self.clock()
        while True:
            await asyncio.sleep(self.timing.renew_interval)
            while True:
                if await self._attempt():
                    renewed = self.clock()
                    break
                if self.holder not in (None, self.identity):
                    return  # someone else holds it: we were partitioned away
                if self.clock() - renewed >= self.timing.renew_deadline:
                    return
                await asyncio.sleep(self.timing.retry_period)

    def _next_try(self) -> float:
        """Until the next attempt: the retry period, or sooner if the holder's Lease ends sooner."""
        if self._observed is None or not self.holder:
            return self.timing.retry_period
        left = self._observed_at + self._duration(self._observed) - self.clock()
        return max(0.05, min(self.timing.retry_period, left + 0.05))

    def _duration(self, spec: dict[str, Any]) -> float:
        return float(spec.get("leaseDurationSeconds") or self.timing.duration)

    def _observe(self, spec: dict[str, Any]) -> None:
        if spec != self._observed:
            self._observed = dict(spec)
            self._observed_at = self.clock()
        self.holder = spec.get("holderIdentity") or None
        self.transitions = int(spec.get("leaseTransitions") or 0)

    async def _attempt(self) -> bool:
        """One try to acquire or renew; True when this replica holds the Lease afterwards."""
        try:
            async with asyncio.timeout(self.timing.renew_deadline / 2):
                return await self._try()
        except Exception as exc:  # API errors, timeouts, broken connections: not renewed
            log.warning("leader election: Lease %s not reachable: %s", self.name, exc)
            return False

    async def _try(self) -> bool:
        now = micro_time()
        lease = await self.kube.get_or_none(API_VERSION, KIND, self.name, self.namespace)
        if lease is None:
            spec = self._spec(now, acquired=now, transitions=0)
            try:
                created = await self.kube.create(self._lease(spec))
            except ApiError as exc:
                if exc.status == 409:
                    return False
                raise
            self._observe(created.get("spec") or spec)
            return True
        old = lease.get("spec") or {}
        self._observe(old)
        holder = old.get("holderIdentity") or None
        expired = self.clock() >= self._observed_at + self._duration(old)
        if holder not in (None, self.identity) and not expired:
            return False
        mine = holder == self.identity
        spec = self._spec(
            now,
            acquired=str(old.get("acquireTime") or now) if mine else now,
            transitions=self.transitions + (0 if mine else 1),
        )
        try:
            written = await self.kube.replace({**lease, "spec": spec})
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise
        self._observe(written.get("spec") or spec)
        return True

    def _spec(self, now: str, *, acquired: str, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.timing.duration)),
            "acquireTime": acquired,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def _lease(self, spec: dict[str, Any]) -> Obj:
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/part-of": "tether"},
            },
            "spec": spec,
        }
