"""Sharded replicas: membership by one Lease per replica, and fencing of app ownership.

Every replica holds a ``coordination.k8s.io/v1`` Lease of its own
(``tether-shard-<identity>``, labelled ``tether.dev/shard-group``) and lists
the others'. The live members are the input of ``engine.sharding.Ring``,
which names the owner of each app. Membership follows client-go's rules, as
the leader Lease does (``leader.py``): another member's Lease is expired when
this replica has seen the same record for ``leaseDurationSeconds`` by its own
monotonic clock. A released Lease (no holder: a graceful stop) leaves the
ring at once; one that vanishes (deleted by hand) counts until it expires.

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
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tether.adapters.kube import KubeClient
from tether.controller import leader
from tether.engine import sharding
from tether.engine.objects import Obj

log = logging.getLogger(__name__)

LEASE_PREFIX = "tether-shard-"
GROUP_LABEL = "tether.dev/shard-group"
MEMBERS_ANNOTATION = "tether.dev/shard-members"
DEFAULT_GROUP = "tether"
# A crashed replica's apps move within duration + two list periods (about 12 s).
SHARD_TIMING = leader.LeaseTiming(
    duration=10.0, renew_interval=2.0, renew_deadline=7.0, retry_period=1.0
)

Apps = Callable[[], list[tuple[str, str | None]]]  # (name, tether.dev/shard label)
Gained = Callable[[list[str]], None]
Lost = Callable[[float], Awaitable[None]]


async def _drop_nothing(timeout: float) -> None:
    return None


@dataclass
class _Seen:
    """Another member's Lease as this replica last saw it, and since when (monotonic)."""

    record: tuple[Any, ...]
    at: float
    duration: float
    ring: sharding.Ring
    lease: str


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
        self.kube = kube
        self.namespace = namespace
        self.apps = apps
        self.identity = identity or leader.default_identity()
        self.group = group
        self.timing = timing or SHARD_TIMING
        self.on_gained = on_gained
        self.on_lost = on_lost
        self.clock = clock
        self.lease_name = lease_name(self.identity)
        self.owned: set[str] = set()
        self._others: dict[str, _Seen] = {}
        self._view: tuple[str, ...] = ()  # the live members, to publish next
        self._written: tuple[str, ...] = ()  # the list in our Lease
        self._published = sharding.Ring(())  # written, and the others read after it
        self._live = sharding.Ring(())
        self._valid_until = 0.0
        self._renewed_at = -1e9
        self._listed_at = 0.0
        self._labels: dict[str, str | None] = {}
        self._relabelled: dict[str, tuple[str | None, float]] = {}
        self._rings: dict[tuple[str, ...], sharding.Ring] = {}
        self._taken: set[str] = set()  # reconciles started since the last pass
        self._released: dict[str, float] = {}  # released Leases, since when
        self._expired_deletes: dict[str, float] = {}  # expired Leases, deleted when
        # Each app's answer (label, owned) while the members and claims stay the same.
        self._decided: dict[str, tuple[str | None, bool]] = {}
        self._decided_for: tuple[Any, ...] = ()

    # -- what the controller asks -------------------------------------------
    @property
    def members(self) -> tuple[str, ...]:
        """The live members as this replica sees them, itself included."""
        return self._live.members

    def owns(self, name: str, shard: str | None) -> bool:
        now = self.clock()
        if now >= self._valid_until:
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
        for other, seen in self._others.items():
            if now < seen.at + seen.duration and any(
                seen.ring.assign(name, s) == other for s in shards
            ):
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
        watchdog = asyncio.create_task(self._fence(), name=f"shard-fence-{self.identity}")
        hurry = False
        try:
            while True:
                try:
                    await self._tick()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("sharding: pass of %s failed", self.identity)
                # New members: publish them at once (once; a failing write waits).
                hurry = not hurry and self._view != self._written
                if not hurry:
                    await asyncio.sleep(self.timing.retry_period)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def release(self) -> bool:
        """Give up this replica's Lease (after it stopped reconciling): no holder, so the
        others take its apps on their next list instead of waiting for it to expire."""
        self._valid_until = 0.0
        self.owned = set()
        for attempt in range(3):
            try:
                if not await self._release():
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

    async def _release(self) -> bool:
        lease = await self.kube.get_or_none(
            leader.API_VERSION, leader.KIND, self.lease_name, self.namespace
        )
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return False
        spec = dict(lease.get("spec") or {})
        spec.pop("holderIdentity", None)
        spec["leaseDurationSeconds"] = 1
        spec["renewTime"] = leader.micro_time()
        meta = dict(lease["metadata"])
        meta["annotations"] = {**(meta.get("annotations") or {}), MEMBERS_ANNOTATION: ""}
        await self.kube.replace({**lease, "metadata": meta, "spec": spec})
        return True

    async def _fence(self) -> None:
        """Stop every reconcile the moment this replica's Lease could no longer be trusted."""
        while True:
            left = self._valid_until - self.clock()
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

    async def _tick(self) -> None:
        deadline = self.timing.renew_deadline / 2
        if self._view and (
            self._view != self._written
            or self.clock() - self._renewed_at >= self.timing.renew_interval
        ):
            started = self.clock()
            if await self._bounded(self._renew(self._view), deadline):
                self._written = self._view
                self._renewed_at = started
        listed = self.clock()
        leases = await self._bounded(self._list(), deadline)
        if leases is None:
            # Blind to the others: stop when we have not seen them for the renew deadline.
            self._valid_until = min(self._valid_until, self._listed_at + self.timing.renew_deadline)
            return
        self._listed_at = listed
        self._observe(leases, listed)
        await self._collect(listed)
        if self._written:
            # Our claims are in the Lease and the others' were read after them.
            self._published = self._ring(self._written)
            self._valid_until = self._renewed_at + self.timing.renew_deadline
        # Itself included even when fenced: a claim only holds others back, and
        # they stop honouring it once our Lease has expired for them.
        live = sorted(
            [o for o, s in self._others.items() if listed < s.at + s.duration] + [self.identity]
        )
        self._live = self._ring(live)
        await self._reassign()
        if tuple(live) != self._view:
            if self._view:
                log.info("sharding: %s sees members %s", self.identity, ", ".join(live))
            self._view = tuple(live)

    async def _reassign(self) -> None:
        now = self.clock()
        apps = self.apps()
        names = set()
        for name, shard in apps:
            names.add(name)
            before = self._labels.get(name, shard)
            if before != shard:
                self._relabelled[name] = (before, now)
            self._labels[name] = shard
        if len(self._labels) > len(names):
            self._labels = {n: shard for n, shard in self._labels.items() if n in names}
        for name, (_, at) in list(self._relabelled.items()):
            if now >= at + self.timing.duration or name not in names:
                del self._relabelled[name]
                self._decided.pop(name, None)  # the grace is over: decide again
        state = (
            now < self._valid_until,
            self._published.members,
            self._live.members,
            sorted((o, s.ring.members) for o, s in self._others.items() if now < s.at + s.duration),
        )
        if state != self._decided_for:
            self._decided_for = state
            self._decided.clear()
        owned = set()
        for name, shard in apps:
            known = self._decided.get(name)
            if known is None or known[0] != shard or name in self._relabelled:
                known = (shard, self.owns(name, shard))
                self._decided[name] = known
            if known[1]:
                owned.add(name)
        if len(self._decided) > len(names):
            self._decided = {n: d for n, d in self._decided.items() if n in names}
        # Newly ours, unless a reconcile already started (an app created since the last pass).
        gained = sorted(owned - self.owned - self._taken)
        self._taken.clear()
        added, lost = owned - self.owned, self.owned - owned
        self.owned = owned
        # Lost apps stop before our next write lets their new owner in.
        await self.on_lost(max(0.0, min(self.timing.renew_interval, self._valid_until - now - 1)))
        _log_owners(self.identity, "stopped", lost)
        _log_owners(self.identity, "owns", added)
        if gained:
            self.on_gained(gained)

    # -- the API --------------------------------------------------------------
    async def _bounded(self, call: Awaitable[Any], timeout: float) -> Any:
        try:
            return await asyncio.wait_for(call, timeout=timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("sharding: Leases of group %s not reachable: %s", self.group, exc)
            return None

    async def _list(self) -> list[Obj]:
        api = await self.kube.resource_for(leader.API_VERSION, leader.KIND)
        items, _ = await self.kube.list(
            api, self.namespace, label_selector=f"{GROUP_LABEL}={self.group}"
        )
        return items

    async def _renew(self, members: tuple[str, ...]) -> bool:
        now = leader.micro_time()
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.timing.duration)),
            "renewTime": now,
        }
        annotations = {MEMBERS_ANNOTATION: ",".join(members)}
        labels = {GROUP_LABEL: self.group, "app.kubernetes.io/part-of": "tether"}
        lease = await self.kube.get_or_none(
            leader.API_VERSION, leader.KIND, self.lease_name, self.namespace
        )
        if lease is None:
            await self.kube.create(
                {
                    "apiVersion": leader.API_VERSION,
                    "kind": leader.KIND,
                    "metadata": {
                        "name": self.lease_name,
                        "namespace": self.namespace,
                        "labels": labels,
                        "annotations": annotations,
                    },
                    "spec": {**spec, "acquireTime": now},
                }
            )
            return True
        meta = dict(lease["metadata"])
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        old = lease.get("spec") or {}
        await self.kube.replace(
            {
                **lease,
                "metadata": meta,
                "spec": {**spec, "acquireTime": old.get("acquireTime") or now},
            }
        )
        return True

    def _observe(self, leases: list[Obj], now: float) -> None:
        present = set()
        released = set()
        # The latest write the API server stamped on any Lease of this list: its clock, now
        # or a little before. A Lease last written a Lease duration before that has not been
        # renewed for that long by the server's clock, so a replica that has only just
        # started need not watch it for a whole duration of its own (see _server_age).
        stamps = [_written_at(lease) for lease in leases]
        server_now = max((t for t in stamps if t is not None), default=None)
        for lease, written in zip(leases, stamps, strict=True):
            spec = lease.get("spec") or {}
            name = str((lease.get("metadata") or {}).get("name") or "")
            holder = str(spec.get("holderIdentity") or "")
            if not holder and name != self.lease_name:
                released.add(name)
                self._released.setdefault(name, now)
                continue
            if not holder or holder == self.identity:
                continue
            members = tuple(
                m
                for m in str(
                    ((lease.get("metadata") or {}).get("annotations") or {}).get(
                        MEMBERS_ANNOTATION, ""
                    )
                ).split(",")
                if m
            )
            record = (spec.get("renewTime"), spec.get("leaseDurationSeconds"), members)
            present.add(holder)
            seen = self._others.get(holder)
            if seen is None or seen.record != record:
                seen = self._others[holder] = _Seen(
                    record=record,
                    at=now,
                    duration=float(spec.get("leaseDurationSeconds") or self.timing.duration),
                    ring=self._ring(members),
                    lease=name,
                )
            age = _server_age(written, server_now)
            if age > 0:
                seen.at = min(seen.at, now - age)
        for holder, seen in list(self._others.items()):
            # Released: gone at once. Vanished (deleted by hand?): live until it expires.
            if holder not in present and (seen.lease in released or now >= seen.at + seen.duration):
                del self._others[holder]
        for name in list(self._released):
            if name not in released:
                del self._released[name]

    async def _collect(self, now: float) -> None:
        """Delete Leases released long ago (Pods scaled away), so the list stays short, and
        Leases expired long ago (Pods killed and replaced under a new name): a replica that
        starts cannot tell those from live ones for a Lease duration, and the apps the ring
        gives them would wait that long for an owner after every restart."""
        for name, since in list(self._released.items()):
            if now - since < 2 * self.timing.duration:
                continue
            del self._released[name]
            with contextlib.suppress(Exception):
                await self.kube.delete(leader.API_VERSION, leader.KIND, name, self.namespace)
        for holder, seen in list(self._others.items()):
            # Kept in _others until the list no longer shows it: forgotten earlier, a
            # failed delete would make it a fresh (live) Lease again.
            tried = self._expired_deletes.get(seen.lease, -1e9)
            if now - seen.at < 2 * seen.duration or now - tried < seen.duration:
                continue
            self._expired_deletes[seen.lease] = now
            log.info("sharding: deleting the Lease %s of %s, expired", seen.lease, holder)
            with contextlib.suppress(Exception):
                await self.kube.delete(leader.API_VERSION, leader.KIND, seen.lease, self.namespace)
        if len(self._expired_deletes) > len(self._others):
            leases = {seen.lease for seen in self._others.values()}
            self._expired_deletes = {n: t for n, t in self._expired_deletes.items() if n in leases}

    def _ring(self, members: tuple[str, ...] | list[str]) -> sharding.Ring:
        key = tuple(sorted(members))
        ring = self._rings.get(key)
        if ring is None:
            if len(self._rings) > 32:
                self._rings.clear()
            ring = self._rings[key] = sharding.Ring(key)
        return ring


def _written_at(lease: Obj) -> float | None:
    """When the API server last stored a change to ``lease`` (epoch seconds, whole seconds:
    the latest ``managedFields`` time), or None. Written by the server, never by a replica,
    so two of these compare even when the replicas' clocks disagree."""
    times = []
    for entry in (lease.get("metadata") or {}).get("managedFields") or []:
        with contextlib.suppress(TypeError, ValueError):
            stamp = str(entry.get("time") or "").replace("Z", "+00:00")
            times.append(datetime.fromisoformat(stamp).timestamp())
    return max(times, default=None)


def _server_age(written: float | None, server_now: float | None) -> float:
    """How long, at least, a Lease last ``written`` (``_written_at``) has gone without a
    write by the API server's clock (0 when unknown): the latest write on any Lease of the
    same list minus this one's, less a second for the whole-second stamps.

    Why a replica may judge another's Lease expired by this instead of only by its own
    watch (client-go's rule), without ever letting two replicas own one app: the holder
    stops reconciling ``renew_deadline`` after it began its last successful renewal, and
    the server stamped that renewal after it began. The list is one snapshot, so the
    Lease was not written again between its stamp and the latest stamp in the list. So
    an age of a Lease duration (10 s > 7 s) means the holder had stopped before the list
    was read, as client-go's rule concludes from a watch of the same length; both assume
    clocks that run at the same rate, and this one that the API servers' clocks agree
    within the 3 s between deadline and duration. A holder that renews again writes a new
    record, which counts as live from when it is seen, as before.

    Trusting instead the members the live replicas publish (all of them dropped the dead
    one) is not safe: a published list lags, and a replica that just joined, or came
    back, is missing from it exactly as a dead one is, so its fresh claims would be
    ignored while it acts on them."""
    if written is None or server_now is None:
        return 0.0
    return max(0.0, server_now - written - 1.0)


def _log_owners(identity: str, what: str, names: set[str]) -> None:
    """Each change of the apps a replica reconciles, by name: one replica's ``stopped``
    must come before another's ``owns`` for the same app (chaos/ownership.py checks it)."""
    if names:
        log.info("sharding: %s %s %d apps: %s", identity, what, len(names), ",".join(sorted(names)))


def lease_name(identity: str) -> str:
    """``tether-shard-<identity>``, cut to the 253 characters a name may have."""
    return (LEASE_PREFIX + identity.lower())[:253]


class ShardCollector(Collector):
    """``tether_shard_apps`` (apps this replica reconciles) and ``tether_shard_members``."""

    def __init__(self, member: ShardMember) -> None:
        self.member = member

    def collect(self) -> Iterator[Any]:
        apps = GaugeMetricFamily(
            "tether_shard_apps", "Applications this replica reconciles", labels=["member"]
        )
        apps.add_metric([self.member.identity], len(self.member.owned))
        yield apps
        members = GaugeMetricFamily("tether_shard_members", "Live members of the shard ring")
        members.add_metric([], len(self.member.members))
        yield members
