"""The other members of a shard group as this replica has seen their Leases: who is live,
who claims what, and which Leases are stale enough to delete. No I/O: the Leases come in
as listed, with this replica's monotonic time of the list.

Membership follows client-go's rules, as the leader Lease does (``leader.py``):
another member's Lease is expired when this replica has seen the same record for
``leaseDurationSeconds`` by its own clock (or the API server's write stamps show it
that old already, see ``server_age``). A released Lease (no holder: a graceful
stop) leaves at once; one that vanishes (deleted by hand) counts until it expires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tether.controller.sharding.leases import published_members, written_at
from tether.engine import sharding
from tether.engine.objects import Obj

RingOf = Callable[[tuple[str, ...]], sharding.Ring]


@dataclass
class Seen:
    """Another member's Lease as this replica last saw it, and since when (monotonic)."""

    record: tuple[Any, ...]
    at: float
    duration: float
    ring: sharding.Ring
    lease: str

    def live(self, now: float) -> bool:
        return now < self.at + self.duration


def server_age(written: float | None, server_now: float | None) -> float:
    """How long, at least, a Lease last ``written`` (``written_at``) has gone without a
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


class Roster:
    """The others' Leases of one group, as seen by the replica ``identity``."""

    def __init__(self, identity: str, own_lease: str, duration: float, ring_of: RingOf) -> None:
        self.identity = identity
        self.own_lease = own_lease
        self.duration = duration  # for a Lease that names none
        self.ring_of = ring_of
        self.others: dict[str, Seen] = {}
        self._released: dict[str, float] = {}  # released Leases, since when
        self._expired_deletes: dict[str, float] = {}  # expired Leases, deleted when

    def live(self, now: float) -> Iterator[tuple[str, Seen]]:
        """The other members whose Lease has not expired at ``now``."""
        return ((o, s) for o, s in self.others.items() if s.live(now))

    def observe(self, leases: list[Obj], now: float) -> None:
        """Take in one list of the group's Leases, read at ``now``."""
        present = set()
        released = set()
        # The latest write the API server stamped on any Lease of this list: its clock, now
        # or a little before. A Lease last written a Lease duration before that has not been
        # renewed for that long by the server's clock, so a replica that has only just
        # started need not watch it for a whole duration of its own (see server_age).
        stamps = [written_at(lease) for lease in leases]
        server_now = max((t for t in stamps if t is not None), default=None)
        for lease, written in zip(leases, stamps, strict=True):
            spec = lease.get("spec") or {}
            name = str((lease.get("metadata") or {}).get("name") or "")
            holder = str(spec.get("holderIdentity") or "")
            if not holder and name != self.own_lease:
                released.add(name)
                self._released.setdefault(name, now)
                continue
            if not holder or holder == self.identity:
                continue
            members = published_members(lease)
            record = (spec.get("renewTime"), spec.get("leaseDurationSeconds"), members)
            present.add(holder)
            seen = self.others.get(holder)
            if seen is None or seen.record != record:
                seen = self.others[holder] = Seen(
                    record=record,
                    at=now,
                    duration=float(spec.get("leaseDurationSeconds") or self.duration),
                    ring=self.ring_of(members),
                    lease=name,
                )
            age = server_age(written, server_now)
            if age > 0:
                seen.at = min(seen.at, now - age)
        for holder, seen in list(self.others.items()):
            # Released: gone at once. Vanished (deleted by hand?): live until it expires.
            if holder not in present and (seen.lease in released or not seen.live(now)):
                del self.others[holder]
        for name in list(self._released):
            if name not in released:
                del self._released[name]

    def stale(self, now: float) -> list[tuple[str, str | None]]:
        """The Leases to delete now, as (Lease name, holder or None when released).

        Leases released long ago (Pods scaled away), so the list stays short, and Leases
        expired long ago (Pods killed and replaced under a new name): a replica that
        starts cannot tell those from live ones for a Lease duration, and the apps the
        ring gives them would wait that long for an owner after every restart."""
        found: list[tuple[str, str | None]] = []
        for name, since in list(self._released.items()):
            if now - since >= 2 * self.duration:
                del self._released[name]
                found.append((name, None))
        for holder, seen in self.others.items():
            # Kept in others until the list no longer shows it: forgotten earlier, a
            # failed delete would make it a fresh (live) Lease again.
            tried = self._expired_deletes.get(seen.lease, -1e9)
            if now - seen.at < 2 * seen.duration or now - tried < seen.duration:
                continue
            self._expired_deletes[seen.lease] = now
            found.append((seen.lease, holder))
        if len(self._expired_deletes) > len(self.others):
            leases = {seen.lease for seen in self.others.values()}
            self._expired_deletes = {n: t for n, t in self._expired_deletes.items() if n in leases}
        return found
