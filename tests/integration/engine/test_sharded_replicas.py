"""Three sharded replicas, sixty apps: each app has one reconciler at a time, and a killed
replica's apps move to the others within the Lease time.

Each replica is a real Controller in this event loop with its own client, live cache,
ShardMember (its own Lease, default timing) and LeaderElector for the singleton
reconcilers, as three Pods of the chart with ``--shards auto`` would be. Every reconcile
is recorded (replica, app, start, end), so the tests count who reconciled what and check
that no two replicas ever reconciled the same app at the same time. A crash is what a
killed Pod leaves behind: no more renewals, and its Lease as it was.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fixtures.tether import APP_NS, Apps, deleting_apps
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller import leader, sharding
from tether.controller.reconciler import Settings
from tether.controller.runtime import Controller
from tether.engine import application as appmodel
from tether.engine.sharding import SHARD_LABEL
from tether.testenv import cluster as localcluster
from tether.testenv.binaries import helm_path

N_APPS = 60
FAST_LEADER = leader.LeaseTiming(
    duration=4.0, renew_interval=1.0, renew_deadline=3.0, retry_period=0.5
)


@dataclass
class Span:
    replica: str
    app: str
    start: float
    end: float = float("inf")


@dataclass
class Replica:
    name: str
    controller: Controller
    member: sharding.ShardMember
    elector: leader.LeaderElector
    spans: list[Span]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def reconciled(self) -> Counter[str]:
        return Counter(s.app for s in self.spans if s.replica == self.name)

    def gauges(self) -> dict[str, float]:
        return {
            family.name: float(family.samples[0].value)
            for family in sharding.ShardCollector(self.member).collect()
        }

    async def crash(self) -> None:
        """A killed Pod: its renewals stop, its Lease stays as it was."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.controller.stop()

    async def stop_gracefully(self) -> None:
        """SIGTERM in `tether controller --shards auto`."""
        await self.crash()
        await self.member.release()
        await self.elector.release()


class Trio:
    def __init__(self, cluster: localcluster.ClusterState, tmp: Path) -> None:
        self.cluster, self.tmp = cluster, tmp
        self.group = f"g-{secrets.token_hex(3)}"
        self.lease = f"lease-{secrets.token_hex(3)}"
        self.replicas: list[Replica] = []
        self.clients: list[KubeClient] = []
        self.spans: list[Span] = []

    async def start(self, name: str) -> Replica:
        kube = KubeClient.from_kubeconfig(self.cluster.kubeconfig)
        self.clients.append(kube)
        helm = helm_path()
        ctl = Controller(
            kube,
            settings=Settings(app_namespace=APP_NS, poll_interval=60.0),
            cache_dir=self.tmp / name,
            helm_path=str(helm) if helm.exists() else None,
            workers=4,
        )
        member = sharding.ShardMember(
            kube,
            APP_NS,
            apps=ctl.shard_apps,
            identity=name,
            group=self.group,
            on_gained=ctl.gained,
            on_lost=ctl.drop_unowned,
        )
        ctl.shard = member
        elector = leader.LeaderElector(
            kube,
            APP_NS,
            name=self.lease,
            identity=name,
            timing=FAST_LEADER,
            on_started=ctl.lead,
            on_stopped=ctl.follow,
        )
        replica = Replica(name, ctl, member, elector, self.spans)
        inner = ctl.reconciler.reconcile

        async def recorded(app: dict[str, Any], *, since: float | None = None) -> float | None:
            span = Span(name, str(app["metadata"]["name"]), time.monotonic())
            self.spans.append(span)
            try:
                return await inner(app, since=since)
            finally:
                span.end = time.monotonic()

        ctl.reconciler.reconcile = recorded  # type: ignore[method-assign]
        await ctl.start(lead=False)
        ctl.reconcile_apps()
        replica.tasks = [
            asyncio.create_task(member.run(), name=f"shard-{name}"),
            asyncio.create_task(elector.run(), name=f"elector-{name}"),
        ]
        self.replicas.append(replica)
        return replica

    async def settled(self, names: set[str], timeout: float = 40.0) -> None:
        """Every replica sees and has published the same members."""

        async def probe() -> bool:
            return all(
                set(r.member.members) == names and set(r.member.keeper.latest.written) == names
                for r in self.replicas
                if r.name in names
            )

        await await_for(probe, timeout=timeout, what=f"every replica publishing {sorted(names)}")

    def overlaps(self) -> list[tuple[Span, Span]]:
        """Reconciles of one app by two replicas at the same time."""
        by_app: dict[str, list[Span]] = {}
        for span in self.spans:
            by_app.setdefault(span.app, []).append(span)
        found = []
        for spans in by_app.values():
            for i, a in enumerate(spans):
                for b in spans[i + 1 :]:
                    if a.replica != b.replica and a.start < b.end and b.start < a.end:
                        found.append((a, b))
        return found

    async def close(self) -> None:
        for r in self.replicas:
            if any(not t.done() for t in r.tasks):
                await r.stop_gracefully()
        for kube in self.clients:
            await kube.close()


@pytest.fixture
async def trio(installed: localcluster.ClusterState, tmp_path: Path) -> AsyncIterator[Trio]:
    t = Trio(installed, tmp_path)
    try:
        for name in ("replica-a", "replica-b", "replica-c"):
            await t.start(name)
        await t.settled({"replica-a", "replica-b", "replica-c"})
        yield t
    finally:
        await t.close()


@pytest.fixture
async def apps(kube: KubeClient) -> AsyncIterator[Apps]:
    async with deleting_apps(kube) as helper:
        yield helper


def configmap(i: int, level: str = "info") -> str:
    return (
        "apiVersion: v1\nkind: ConfigMap\n"
        f"metadata:\n  name: shard-{i:02d}\ndata:\n  LOG_LEVEL: {level}\n"
    )


async def create_apps(
    apps: Apps,
    git_repo: Any,
    dest: str,
    tag: str,
    shards: dict[int, str] | None = None,
    n: int = N_APPS,
) -> list[str]:
    """Apps of one ConfigMap each; ``shards`` labels some (index: tether.dev/shard)."""
    git_repo.commit({f"apps/a{i:02d}/cm.yaml": configmap(i) for i in range(n)})
    names = []
    for i in range(n):
        name = f"{tag}-{i:02d}"
        labels = {SHARD_LABEL: shards[i]} if shards and i in shards else {}
        await apps.kube.create(
            {
                "apiVersion": appmodel.API_VERSION,
                "kind": appmodel.KIND,
                "metadata": {"name": name, "namespace": APP_NS, "labels": labels},
                "spec": {
                    "source": {
                        "repoURL": git_repo.git_url,
                        "path": f"apps/a{i:02d}",
                        "targetRevision": "main",
                    },
                    "destination": {"namespace": dest},
                    "syncPolicy": {
                        "automated": {"prune": True},
                        "syncOptions": ["CreateNamespace=true"],
                    },
                },
            }
        )
        apps.created.append(name)
        names.append(name)
    return names


async def all_synced(apps: Apps, names: list[str]) -> None:
    async def probe() -> bool:
        for name in names:
            st = await apps.status(name)
            if (st.get("sync") or {}).get("status") != "Synced":
                return False
        return True

    await await_for(probe, timeout=120, what=f"{len(names)} apps Synced")
    # A reconcile may start (``take``) and sync an app before the next shard pass counts
    # it in ``owned``; two passes later every replica's ``owned`` is up to date.
    await asyncio.sleep(2 * sharding.SHARD_TIMING.retry_period + 0.5)


async def test_each_of_sixty_apps_is_reconciled_by_exactly_one_of_three_replicas(
    trio: Trio, apps: Apps, git_repo: Any, dest_namespace: str
) -> None:
    tag = f"s{secrets.token_hex(2)}"
    # app 0 names a member, app 1 a shard number (the first member by name)
    names = await create_apps(apps, git_repo, dest_namespace, tag, {0: "replica-c", 1: "0"})
    await all_synced(apps, names)
    await asyncio.sleep(3)  # a few more passes of every ring member

    owners: dict[str, set[str]] = {}
    for r in trio.replicas:
        for app in r.reconciled():
            owners.setdefault(app, set()).add(r.name)
    assert set(owners) == set(names)
    shared = {app: who for app, who in owners.items() if len(who) != 1}
    assert not shared, shared
    assert owners[names[0]] == {"replica-c"}
    assert owners[names[1]] == {"replica-a"}
    assert not trio.overlaps()

    # What each replica's /metrics says: its share, and three members.
    gauges = [r.gauges() for r in trio.replicas]
    assert all(g["tether_shard_members"] == 3 for g in gauges)
    assert sum(g["tether_shard_apps"] for g in gauges) == N_APPS
    owned = [r.member.owned & set(names) for r in trio.replicas]
    assert set().union(*owned) == set(names)
    assert sum(len(o) for o in owned) == N_APPS
    shares = {r.name: len(o) for r, o in zip(trio.replicas, owned, strict=True)}
    print("apps per replica:", shares)
    # Each app was synced once: one history entry.
    for name in names[:10]:
        assert len((await apps.status(name)).get("history") or []) == 1
    # One replica leads the singleton reconcilers.
    assert sum(r.elector.leading for r in trio.replicas) == 1


async def test_a_killed_replicas_apps_are_taken_over_within_the_lease_time(
    trio: Trio, apps: Apps, git_repo: Any, dest_namespace: str
) -> None:
    """Default shard timing (a 10 s Lease): every app of the killed replica is being
    reconciled by another within 15 s, and a change pushed meanwhile is synced once."""
    tag = f"k{secrets.token_hex(2)}"
    names = await create_apps(apps, git_repo, dest_namespace, tag)
    await all_synced(apps, names)
    victim = trio.replicas[1]
    survivors = [r for r in trio.replicas if r is not victim]
    lost = sorted(victim.member.owned & set(names))
    assert lost

    await victim.crash()
    killed = time.monotonic()
    moved = lost[0]
    index = int(moved.rsplit("-", 1)[1])
    sha = git_repo.commit({f"apps/a{index:02d}/cm.yaml": configmap(index, "debug")}, "debug")
    lease = await apps.kube.get(leader.API_VERSION, leader.KIND, victim.member.lease_name, APP_NS)
    assert lease["spec"]["holderIdentity"] == victim.name  # nobody released it

    async def taken_over() -> bool:
        started = {s.app for s in trio.spans if s.replica != victim.name and s.start > killed}
        return set(lost) <= started

    await await_for(taken_over, timeout=30, what="every app of the killed replica reconciled")
    took = time.monotonic() - killed
    print(f"{len(lost)} apps taken over {took:.1f} s after the kill")
    assert took <= 15.0
    firsts = [
        min(s.start for s in trio.spans if s.app == app and s.start > killed) - killed
        for app in lost
    ]
    print(f"first reconcile after the kill: {min(firsts):.1f}-{max(firsts):.1f} s")
    assert all(f >= sharding.SHARD_TIMING.renew_deadline for f in firsts)  # not before fencing

    st = await apps.wait_synced(moved, revision=sha)
    await asyncio.sleep(3)
    st = await apps.status(moved)
    assert [h.get("revision") for h in st["history"]].count(sha) == 1
    cm = await apps.kube.get("v1", "ConfigMap", f"shard-{index:02d}", dest_namespace)
    assert cm["data"]["LOG_LEVEL"] == "debug"

    await trio.settled({r.name for r in survivors})
    owned = [r.member.owned & set(names) for r in survivors]
    assert set().union(*owned) == set(names)
    assert sum(len(o) for o in owned) == N_APPS
    assert not trio.overlaps()


async def test_a_replica_that_cannot_reach_the_api_stops_before_its_apps_move(
    trio: Trio, apps: Apps, git_repo: Any, dest_namespace: str
) -> None:
    """Cut off at its renew deadline (7 s), before its Lease expires for the others
    (10 s): its apps are never reconciled by two replicas at once."""
    names = await create_apps(apps, git_repo, dest_namespace, f"c{secrets.token_hex(2)}", n=15)
    await all_synced(apps, names)
    # The replica holding most of these apps: the ring may give the first none of them.
    cut = max(trio.replicas, key=lambda r: len(r.member.owned & set(names)))
    mine = sorted(cut.member.owned & set(names))
    assert mine

    async def unreachable(*args: Any) -> Any:
        raise OSError("network is unreachable")

    leases = cut.member.keeper.leases  # the keeper's own, on its thread
    assert leases is not None
    leases.renew = unreachable  # type: ignore[method-assign,assignment]
    leases.list = unreachable  # type: ignore[method-assign]
    since = time.monotonic()
    stopped = started = None
    while time.monotonic() - since < 30 and (stopped is None or started is None):
        now = time.monotonic()
        if stopped is None and not any(cut.controller.owns(a) for a in mine):
            stopped = now
        if started is None and any(
            s.replica != cut.name and s.app in mine and s.start > since for s in trio.spans
        ):
            started = now
        await asyncio.sleep(0.02)
    assert stopped is not None, "the cut-off replica kept its apps"
    assert started is not None, "nobody took the cut-off replica's apps"
    print(f"stopped after {stopped - since:.1f} s, taken over after {started - since:.1f} s")
    assert stopped < started
    assert not cut.member.owned
    assert not trio.overlaps()


async def test_a_shard_label_moves_an_app_without_two_reconcilers(
    trio: Trio, apps: Apps, git_repo: Any, dest_namespace: str
) -> None:
    """The old owner stops as soon as it sees the label; the new one waits one Lease
    duration, for replicas whose cache has not seen the change yet."""
    names = await create_apps(apps, git_repo, dest_namespace, f"l{secrets.token_hex(2)}", n=15)
    await all_synced(apps, names)
    first, _, third = trio.replicas
    moved = sorted(first.member.owned & set(names))[0]
    await apps.kube.merge_patch(
        appmodel.API_VERSION,
        appmodel.KIND,
        moved,
        {"metadata": {"labels": {SHARD_LABEL: third.name}}},
        APP_NS,
    )
    since = time.monotonic()

    async def reconciled_by_third() -> bool:
        return any(s.replica == third.name and s.app == moved for s in trio.spans)

    await await_for(reconciled_by_third, timeout=30, what=f"{third.name} reconciling {moved}")
    took = min(s.start for s in trio.spans if s.replica == third.name and s.app == moved) - since
    print(f"moved by its label in {took:.1f} s")
    assert took >= sharding.SHARD_TIMING.duration - 1  # the old value's grace
    assert moved in third.member.owned
    assert moved not in first.member.owned
    assert not [
        s for s in trio.spans if s.replica == first.name and s.app == moved and s.start > since + 2
    ]
    assert not trio.overlaps()


async def test_a_stopping_replica_releases_its_lease_and_its_apps_move_at_once(
    trio: Trio, apps: Apps, git_repo: Any, dest_namespace: str
) -> None:
    names = await create_apps(apps, git_repo, dest_namespace, f"r{secrets.token_hex(2)}", n=15)
    await all_synced(apps, names)
    leaving = trio.replicas[2]
    theirs = sorted(leaving.member.owned & set(names))
    assert theirs

    await leaving.stop_gracefully()
    since = time.monotonic()
    lease = await apps.kube.get(leader.API_VERSION, leader.KIND, leaving.member.lease_name, APP_NS)
    assert not lease["spec"].get("holderIdentity")

    async def moved() -> bool:
        started = {s.app for s in trio.spans if s.replica != leaving.name and s.start > since}
        return set(theirs) <= started

    await await_for(moved, timeout=15, what="the leaving replica's apps reconciled elsewhere")
    took = time.monotonic() - since
    print(f"{len(theirs)} apps moved {took:.1f} s after a graceful stop")
    assert took < sharding.SHARD_TIMING.renew_deadline  # not waiting for expiry
    assert not trio.overlaps()


async def test_a_lease_deleted_by_hand_does_not_let_another_replica_in(
    trio: Trio, apps: Apps, git_repo: Any, dest_namespace: str
) -> None:
    """Deleting is not releasing: the others wait for the Lease to expire, and the
    owner writes it again first."""
    names = await create_apps(apps, git_repo, dest_namespace, f"h{secrets.token_hex(2)}", n=15)
    await all_synced(apps, names)
    owner = trio.replicas[0]
    mine = set(owner.member.owned & set(names))
    assert mine
    await apps.kube.delete(leader.API_VERSION, leader.KIND, owner.member.lease_name, APP_NS)
    since = time.monotonic()
    await asyncio.sleep(sharding.SHARD_TIMING.duration + 2)
    assert not [
        s for s in trio.spans if s.replica != owner.name and s.app in mine and s.start > since
    ]
    assert mine <= owner.member.owned
    assert await apps.kube.get(leader.API_VERSION, leader.KIND, owner.member.lease_name, APP_NS)
