"""Which other replicas a shard member counts live, from the Leases it lists (no I/O)."""

from __future__ import annotations

from typing import Any

from tether.controller.sharding.leases import MEMBERS_ANNOTATION
from tether.controller.sharding.roster import Roster
from tether.engine import sharding


def lease(
    holder: str, renewed: str = "t1", written: str | None = None, name: str | None = None
) -> Any:
    meta: dict[str, Any] = {
        "name": name or f"tether-shard-{holder}",
        "annotations": {MEMBERS_ANNOTATION: holder},
    }
    if written:
        meta["managedFields"] = [{"time": written}]
    spec = {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": 10}
    return {"metadata": meta, "spec": spec}


def roster() -> Roster:
    return Roster("me", "tether-shard-me", 10.0, lambda members: sharding.Ring(members))


def live(r: Roster, now: float) -> list[str]:
    return sorted(o for o, _ in r.live(now))


def test_a_lease_renewed_is_live_and_one_not_renewed_expires_after_its_duration() -> None:
    r = roster()
    r.observe([lease("a"), lease("b")], now=0.0)
    r.observe([lease("a", renewed="t2"), lease("b")], now=9.0)
    assert live(r, 9.5) == ["a", "b"]
    r.observe([lease("a", renewed="t3"), lease("b")], now=10.5)
    assert live(r, 10.5) == ["a"]


def test_a_released_lease_leaves_at_once_and_a_vanished_one_only_when_it_expires() -> None:
    r = roster()
    r.observe([lease("a"), lease("b")], now=0.0)
    r.observe([lease("", name="tether-shard-a")], now=1.0)  # a released, b's Lease gone
    assert live(r, 1.0) == ["b"]
    assert live(r, 10.5) == []


def test_a_newcomer_counts_a_lease_the_server_stamped_long_ago_as_expired() -> None:
    r = roster()
    r.observe(
        [
            lease("dead", written="2026-01-01T00:00:00Z"),
            lease("alive", written="2026-01-01T00:00:30Z"),
        ],
        now=100.0,
    )
    assert live(r, 100.0) == ["alive"]


def test_stale_leases_are_offered_for_deletion_once_per_duration() -> None:
    r = roster()
    r.observe([lease("a")], now=0.0)
    r.observe([lease("a"), lease("", name="tether-shard-gone")], now=0.0)
    assert r.stale(15.0) == []
    assert sorted(r.stale(20.0), key=str) == [("tether-shard-a", "a"), ("tether-shard-gone", None)]
    assert r.stale(25.0) == []  # a failed delete is tried again a duration later
    assert r.stale(30.0) == [("tether-shard-a", "a")]
