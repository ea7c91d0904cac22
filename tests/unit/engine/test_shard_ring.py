"""The consistent-hashing ring that splits Applications between controller replicas."""

from __future__ import annotations

from collections import Counter

from tether.engine import sharding

THREE = ["replica-a", "replica-b", "replica-c"]


def names(n: int) -> list[str]:
    return [f"app-{i:04d}" for i in range(n)]


def owners(apps: list[str], members: list[str]) -> dict[str, str | None]:
    return sharding.assignment(dict.fromkeys(apps), members)


def test_three_members_share_thousands_of_apps_within_fifteen_percent() -> None:
    for n in (600, 3000):
        counts = Counter(owners(names(n), THREE).values())
        assert set(counts) == set(THREE)
        assert max(abs(c - n / 3) for c in counts.values()) <= 0.15 * n / 3, counts


def test_every_member_holds_about_a_third_of_the_circle() -> None:
    ring = sharding.Ring(THREE)
    share: Counter[str] = Counter()
    for i, p in enumerate(ring._points):
        previous = ring._points[i - 1] if i else ring._points[-1] - 2**64
        share[ring._owners[i]] += p - previous
    for member in THREE:
        assert abs(share[member] / 2**64 - 1 / 3) < 0.03, share


def test_only_the_leaving_members_apps_move() -> None:
    apps = names(1000)
    before = owners(apps, THREE)
    after = owners(apps, ["replica-a", "replica-c"])
    moved = {a for a in apps if before[a] != after[a]}
    assert moved == {a for a in apps if before[a] == "replica-b"}


def test_a_joining_member_takes_apps_only_for_itself() -> None:
    apps = names(1000)
    before = owners(apps, THREE)
    after = owners(apps, [*THREE, "replica-d"])
    moved = [a for a in apps if before[a] != after[a]]
    assert all(after[a] == "replica-d" for a in moved)
    assert 0.15 * 1000 < len(moved) < 0.35 * 1000  # about a quarter


def test_the_owner_depends_on_the_name_and_members_only_not_their_order() -> None:
    ring = sharding.Ring(["replica-c", "replica-a", "replica-b"])
    again = sharding.Ring(THREE)
    assert all(ring.owner(a) == again.owner(a) for a in names(200))


def test_a_shard_label_naming_a_live_member_wins() -> None:
    ring = sharding.Ring(THREE)
    assert all(ring.assign(a, "replica-b") == "replica-b" for a in names(50))


def test_a_shard_number_picks_the_member_in_sorted_order() -> None:
    ring = sharding.Ring(["replica-c", "replica-a", "replica-b"])
    assert ring.assign("x", "0") == "replica-a"
    assert ring.assign("x", "2") == "replica-c"


def test_a_label_for_no_live_member_falls_back_to_the_ring() -> None:
    ring = sharding.Ring(THREE)
    for label in ("replica-gone", "3", "-1", "007x"):
        assert ring.assign("app-0001", label) == ring.owner("app-0001")


def test_no_members_no_owner() -> None:
    assert sharding.Ring([]).assign("app", "0") is None


def test_shard_label_is_read_stripped_and_empty_means_none() -> None:
    assert sharding.shard_of({sharding.SHARD_LABEL: " replica-a "}) == "replica-a"
    assert sharding.shard_of({sharding.SHARD_LABEL: ""}) is None
    assert sharding.shard_of(None) is None
