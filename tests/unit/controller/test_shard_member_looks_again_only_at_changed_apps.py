"""Each pass of the ring looks again only at apps whose label moved or that came or went.

With 10,000 apps the ring's pass each second walked every app twice (about a
quarter of a replica's CPU); now it reads the changes the labels reading
names, and still answers as a walk of all would: an app labelled onto another
member is lost, one labelled onto this member is gained, a deleted one is no
longer owned, a new one is decided, and a change of members decides all again.
"""

from __future__ import annotations

import types
from typing import Any, cast

from tether.controller.sharding.member import AppShards, ShardMember
from tether.engine.sharding import Ring

MEMBERS = ["r-a", "r-b", "r-c"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Labels:
    """What the controller's labels reading hands the member: every label, and the changes."""

    def __init__(self, n: int) -> None:
        self.labels: dict[str, str | None] = {f"app-{i}": None for i in range(n)}
        self.changed: set[str] | None = None
        self.readings = 0

    def set(self, name: str, label: str | None) -> None:
        self.labels[name] = label
        self.changed = (self.changed or set()) | {name}

    def drop(self, name: str) -> None:
        del self.labels[name]
        self.changed = (self.changed or set()) | {name}

    def __call__(self) -> AppShards:
        self.readings += 1
        changed = None if self.readings == 1 else frozenset(self.changed or ())
        self.changed = set()
        return AppShards(self.labels, changed)


def _member(labels: Labels, clock: Clock) -> tuple[ShardMember, list[list[str]]]:
    gained: list[list[str]] = []
    member = ShardMember(
        cast(Any, types.SimpleNamespace(conn=None)),
        "tether",
        apps=labels,
        identity="r-a",
        on_gained=gained.append,
        clock=clock,
    )
    member._published = member._live = member._ring(MEMBERS)
    member._valid_until = clock.now + 10_000
    return member, gained


def _expected(labels: Labels) -> set[str]:
    ring = Ring(MEMBERS)
    return {n for n, shard in labels.labels.items() if ring.assign(n, shard) == "r-a"}


async def test_the_ring_follows_labels_and_apps_from_the_changes_alone() -> None:
    labels, clock = Labels(300), Clock()
    member, gained = _member(labels, clock)
    await member._reassign()
    assert member.owned == _expected(labels)
    ours = sorted(member.owned)
    theirs = sorted(set(labels.labels) - member.owned)

    labels.set(ours[0], "r-b")
    labels.set(theirs[0], "r-a")  # no other member's Lease claims it: taken at once
    labels.drop(ours[1])
    labels.labels["app-new"] = None
    labels.changed = (labels.changed or set()) | {"app-new"}
    await member._reassign()
    assert ours[0] not in member.owned
    assert ours[1] not in member.owned
    assert theirs[0] in member.owned
    assert any(theirs[0] in g for g in gained)
    assert member.owned == _expected(labels)

    labels.set(theirs[0], None)  # and back, after the grace of its move here
    clock.now += member.timing.duration + 1
    await member._reassign()
    assert member.owned == _expected(labels)
    assert (theirs[0] in member.owned) == (theirs[0] in _expected(labels))


async def test_a_change_of_members_decides_every_app_again() -> None:
    labels, clock = Labels(300), Clock()
    member, _ = _member(labels, clock)
    await member._reassign()
    member._published = member._live = member._ring(["r-a", "r-b"])
    await member._reassign()
    ring = Ring(["r-a", "r-b"])
    assert member.owned == {n for n in labels.labels if ring.assign(n) == "r-a"}
