"""This replica's place in the shard ring: what it may reconcile, and when it must stop.

No app is reconciled by two replicas at once:

- Each Lease carries the member list its holder acts on
  (``tether.dev/shard-members``), so every replica can tell which apps another
  one claims. A replica reconciles an app only if its own published list
  gives the app to it, the live members give it to it, and no other live
  member's published list gives it to that member. The claims are read after
  this replica's own list was written, so of two replicas racing for an app at
  least one sees the other's claim.
- A replica that loses an app (a member joined, a label moved it) stops it
  first (the reconcile in flight may finish for ``renew_interval``, then is
  cancelled) and only then publishes the new list that lets the new owner in.
- A replica that cannot renew its Lease (or cannot list the others') for
  ``renew_deadline`` stops every reconcile before anyone may judge its Lease
  expired (``duration``), like the leader does.
- A ``tether.dev/shard`` label seen changing counts, for one Lease duration,
  as a claim under the old value too, so a replica whose cache has not seen
  the change yet is not overtaken.

Nothing is left unowned: the ring gives every app to some live member, and an
expired member's claims are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.adapters.kube import KubeClient
from tether.controller import leader
from tether.controller.sharding.keeper import NEVER, LeaseKeeper, Sighting
from tether.controller.sharding.leases import DEFAULT_GROUP, ShardLeases
from tether.controller.sharding.roster import Roster
from tether.engine import sharding

log = logging.getLogger(__name__)

# A crashed replica's apps move within duration + two list periods (about 12 s).
SHARD_TIMING = leader.LeaseTiming(
    duration=10.0, renew_interval=2.0, renew_deadline=7.0, retry_period=1.0
)


@dataclass(frozen=True)
class AppShards:
    """Every app's ``tether.dev/shard`` label (None without one) by name, and the names
    whose label came, went or changed since the last reading (None: not known, so
    every name is looked at again). With 10,000 apps, looking at every app on every
    sighting of the Leases (each second) was the largest cost of a replica."""

    labels: Mapping[str, str | None]
    changed: frozenset[str] | None = None


Apps = Callable[[], AppShards]
Gained = Callable[[list[str]], None]
Lost = Callable[[float], Awaitable[None]]


async def _drop_nothing(timeout: float) -> None:
    return None


class ShardMember:
    """This replica's place in the ring: renews its Lease, watches the others', fences.

    ``owns(name, shard)`` is what the controller asks before each reconcile;
    ``on_gained`` hears the apps that became this replica's (to queue them),
    ``on_lost(timeout)`` must stop the reconciles of apps ``owns`` no longer
    allows, giving them at most ``timeout`` seconds.
    """

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        *,
        apps: Apps,
        identity: str | None = None,
        group: str = DEFAULT_GROUP,
        timing: leader.LeaseTiming | None = None,
        on_gained: Gained = lambda names: None,
        on_lost: Lost = _drop_nothing,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.apps = apps
        self.identity = identity or leader.default_identity()
        self.group = group
        self.timing = timing or SHARD_TIMING
        self.on_gained = on_gained
        self.on_lost = on_lost
        self.clock = clock
        self.leases = ShardLeases(kube, namespace, group, self.identity)
        self.keeper = LeaseKeeper(
            kube.conn,
            lambda own: ShardLeases(own, namespace, group, self.identity),
            self.timing,
            clock=clock,
            name=f"shard-lease-{self.identity}",
        )
        self.lease_name = self.leases.name
        self.owned: set[str] = set()
        self._rings: dict[tuple[str, ...], sharding.Ring] = {}
        self.roster = Roster(self.identity, self.lease_name, self.timing.duration, self._ring)
        self._view: tuple[str, ...] = ()  # the live members, to publish next
        self._published = sharding.Ring(())  # written, and the others read after it
        self._live = sharding.Ring(())
        self._valid_until = 0.0
        self._released = False
        self._listed_at = NEVER
        self._absorbed = 0  # the keeper's last sighting read
        self._labels: dict[str, str | None] = {}
        self._relabelled: dict[str, tuple[str | None, float]] = {}
        self._taken: set[str] = set()  # reconciles started since the last pass
        # What ``owned`` was decided under (trust, members, claims); () before the first pass.
        self._decided_for: tuple[Any, ...] = ()

    # -- what the controller asks -------------------------------------------
    @property
    def members(self) -> tuple[str, ...]:
        """The live members as this replica sees them, itself included."""
        return self._live.members

    def owns(self, name: str, shard: str | None) -> bool:
        now = self.clock()
        if now >= self._trusted_until():
            return False
        me = self.identity
        if self._published.assign(name, shard) != me or self._live.assign(name, shard) != me:
            return False
        shards = {shard}
        if self._labels.get(name, shard) != shard:
            shards.add(self._labels[name])  # moved since the last pass: the old value still holds
        old = self._relabelled.get(name)
        if old is not None and now < old[1] + self.timing.duration:
            shards.add(old[0])
        for other, seen in self.roster.live(now):
            if any(seen.ring.assign(name, s) == other for s in shards):
                return False
        return True

    def take(self, name: str, shard: str | None) -> bool:
        """``owns``, for a reconcile about to start (the next pass need not queue it again)."""
        if not self.owns(name, shard):
            return False
        self._taken.add(name)
        return True

    # -- the loop -------------------------------------------------------------
    async def run(self) -> None:
        """Renew, list, hand apps over; never returns (cancel it to stop, ``release`` after)."""
        self.keeper.start()
        watchdog = asyncio.create_task(self._fence(), name=f"shard-fence-{self.identity}")
        try:
            while True:
                sighting = self.keeper.latest
                if sighting.seq != self._absorbed:
                    try:
                        await self._absorb(sighting)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("sharding: pass of %s failed", self.identity)
                await asyncio.sleep(self.timing.retry_period / 2)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            await self.keeper.stop()

    async def release(self) -> bool:
        """Give up this replica's Lease (after it stopped reconciling): no holder, so the
        others take its apps on their next list instead of waiting for it to expire."""
        self._valid_until = 0.0
        self._released = True
        self.owned = set()
        for attempt in range(3):
            try:
                if not await self.leases.release():
                    return False
            except Exception as exc:  # a connection broken by a cancelled request: retry
                log.warning("sharding: could not release the Lease %s: %r", self.lease_name, exc)
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            log.info(
                "sharding: %s left the ring (Lease %s released)", self.identity, self.lease_name
            )
            return True
        return False

    async def _fence(self) -> None:
        """Stop every reconcile the moment this replica's Lease could no longer be trusted."""
        while True:
            left = self._trusted_until() - self.clock()
            if left > 0:
                await asyncio.sleep(left + 0.01)
                continue
            if self.owned:
                log.warning(
                    "sharding: %s could not renew its Lease; stops reconciling", self.identity
                )
                dropped, self.owned = self.owned, set()
                # Every reconcile is cancelled, none finished: each app owned again
                # must be queued again, even one whose reconcile had started.
                self._taken.clear()
                await self.on_lost(0.0)
                _log_owners(self.identity, "stopped", dropped)
            await asyncio.sleep(self.timing.retry_period)

    def _trusted_until(self) -> float:
        """The end of this replica's claims: ``renew_deadline`` after the older of its
        last renewal and its last list of the others' claims (read after that
        renewal), taken from the keeper directly so a busy loop is not fenced for
        having been late to read them. Never before our claims were written and read."""
        if self._released or not self._published.members:
            return self._valid_until
        return max(self._valid_until, self.keeper.latest.good_until(self.timing.renew_deadline))

    async def _absorb(self, sighting: Sighting) -> None:
        self._absorbed = sighting.seq
        if sighting.leases is None or sighting.listed_at == self._listed_at:
            # Blind to the others: stop when we have not seen them for the renew deadline.
            self._valid_until = min(self._valid_until, self._listed_at + self.timing.renew_deadline)
            return
        listed = self._listed_at = sighting.listed_at
        self.roster.observe(list(sighting.leases), listed)
        for name, holder in self.roster.stale(listed):
            if holder is not None:
                log.info("sharding: deleting the Lease %s of %s, expired", name, holder)
            await self.leases.delete(name)
        if sighting.written and sighting.renewed_at <= listed:
            # Our claims are in the Lease and the others' were read after them.
            self._published = self._ring(sighting.written)
            self._valid_until = sighting.good_until(self.timing.renew_deadline)
        # Itself included even when fenced: a claim only holds others back, and
        # they stop honouring it once our Lease has expired for them.
        live = sorted([o for o, _ in self.roster.live(listed)] + [self.identity])
        self._live = self._ring(live)
        await self._reassign()
        if tuple(live) != self._view:
            if self._view:
                log.info("sharding: %s sees members %s", self.identity, ", ".join(live))
            self._view = tuple(live)
        self.keeper.publish(self._view)

    async def _reassign(self) -> None:
        now = self.clock()
        shards = self.apps()
        current = shards.labels
        # Changes are since the last reading, so the first pass looks at every app.
        full = shards.changed is None or not self._decided_for
        changed = set(current) | set(self._labels) if full else shards.changed or frozenset()
        for name in changed:
            if name not in current:
                self._labels.pop(name, None)
                self._relabelled.pop(name, None)
                continue
            shard = current[name]
            before = self._labels.get(name, shard)
            if before != shard:
                self._relabelled[name] = (before, now)
            self._labels[name] = shard
        expired = set()
        for name, (_, at) in list(self._relabelled.items()):
            if now >= at + self.timing.duration:
                del self._relabelled[name]
                expired.add(name)  # the grace is over: decide again
        state = (
            now < self._trusted_until(),
            self._published.members,
            self._live.members,
            sorted((o, s.ring.members) for o, s in self.roster.live(now)),
        )
        if full or state != self._decided_for:
            owned = {name for name, shard in current.items() if self.owns(name, shard)}
        else:  # only what may have moved: a label, an app come or gone, a grace
            owned = set(self.owned)
            # An app whose label moved is asked on every pass while its grace lasts.
            for name in set(changed) | expired | set(self._relabelled):
                if name in current and self.owns(name, current[name]):
                    owned.add(name)
                else:
                    owned.discard(name)
        self._decided_for = state
        # Newly ours, unless a reconcile already started (an app created since the last pass).
        gained = sorted(owned - self.owned - self._taken)
        self._taken.clear()
        added, lost = owned - self.owned, self.owned - owned
        self.owned = owned
        # Lost apps stop before our next write lets their new owner in.
        grace = min(self.timing.renew_interval, self._trusted_until() - now - 1)
        await self.on_lost(max(0.0, grace))
        _log_owners(self.identity, "stopped", lost)
        _log_owners(self.identity, "owns", added)
        if gained:
            self.on_gained(gained)

    def _ring(self, members: tuple[str, ...] | list[str]) -> sharding.Ring:
        key = tuple(sorted(members))
        ring = self._rings.get(key)
        if ring is None:
            if len(self._rings) > 32:
                self._rings.clear()
            ring = self._rings[key] = sharding.Ring(key)
        return ring


def _log_owners(identity: str, what: str, names: set[str]) -> None:
    """Each change of the apps a replica reconciles, by name: one replica's ``stopped``
    must come before another's ``owns`` for the same app (chaos/ownership.py checks it)."""
    if names:
        log.info("sharding: %s %s %d apps: %s", identity, what, len(names), ",".join(sorted(names)))
