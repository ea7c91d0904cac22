"""Two controllers, one Lease: only the holder reconciles, and the other takes over.

Each replica is a real Controller in this event loop with its own client, its
own live cache and its own LeaderElector, as two Pods of the chart would be.
A crash is simulated the way a killed Pod looks to the API server: the
elector and the workers are cancelled and the Lease is left as it was.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.tether import APP_NS, Apps, deleting_apps, example_files
from fixtures.waiting import await_for
from tether.adapters.kube import ApiError, KubeClient
from tether.cli.http import ControllerCollector
from tether.controller import leader, pushes
from tether.controller.install import controller_kubeconfig
from tether.controller.reconciler import Settings
from tether.controller.runtime import Controller
from tether.controller.service import AppService
from tether.testenv import cluster as localcluster
from tether.testenv.binaries import helm_path

CONFIGMAP = "apps/finance/configmap.yaml"
FAST = leader.LeaseTiming(duration=4.0, renew_interval=1.0, renew_deadline=3.0, retry_period=0.5)


@dataclass
class Replica:
    name: str
    controller: Controller
    elector: leader.LeaderElector
    task: asyncio.Task[None] | None = None
    registry_passes: list[float] = field(default_factory=list)

    @property
    def reconciles(self) -> int:
        return self.controller.metrics.reconciles

    async def crash(self) -> None:
        """What a killed Pod leaves behind: no more renewals, and a Lease naming it."""
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.controller.stop()

    async def stop_gracefully(self) -> None:
        """What SIGTERM does in `tether controller --leader-elect`."""
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.controller.stop()
        await self.elector.release()


class Pair:
    def __init__(
        self, cluster: localcluster.ClusterState, tmp: Path, lease: str, poll: float = 3.0
    ) -> None:
        self.cluster, self.tmp, self.lease, self.poll = cluster, tmp, lease, poll
        self.replicas: list[Replica] = []
        self.clients: list[KubeClient] = []

    async def start(self, name: str, timing: leader.LeaseTiming) -> Replica:
        kube = KubeClient.from_kubeconfig(self.cluster.kubeconfig)
        self.clients.append(kube)
        helm = helm_path()
        ctl = Controller(
            kube,
            settings=Settings(app_namespace=APP_NS, poll_interval=self.poll),
            cache_dir=self.tmp / name,
            helm_path=str(helm) if helm.exists() else None,
            workers=4,
        )
        elector = leader.LeaderElector(
            kube,
            APP_NS,
            name=self.lease,
            identity=name,
            timing=timing,
            on_started=ctl.lead,
            on_stopped=ctl.follow,
        )
        replica = Replica(name, ctl, elector)
        inner = ctl.registry_credentials.run_once

        async def counted() -> None:
            replica.registry_passes.append(time.monotonic())
            await inner()

        ctl.registry_credentials.run_once = counted  # type: ignore[method-assign]
        await ctl.start(lead=False)
        replica.task = asyncio.create_task(elector.run(), name=f"elector-{name}")
        self.replicas.append(replica)
        return replica

    async def leader(self, timeout: float = 30.0) -> Replica:
        async def probe() -> Replica | None:
            leading = [r for r in self.replicas if r.elector.leading]
            return leading[0] if len(leading) == 1 else None

        return await await_for(probe, timeout=timeout, what="one leader")

    async def close(self) -> None:
        for r in self.replicas:
            if r.task is not None and not r.task.done():
                await r.stop_gracefully()
        for kube in self.clients:
            await kube.close()


async def start_pair(
    cluster: localcluster.ClusterState, tmp: Path, timing: leader.LeaseTiming, poll: float = 3.0
) -> Pair:
    pair = Pair(cluster, tmp, f"lease-{secrets.token_hex(3)}", poll)
    await pair.start("replica-a", timing)
    await pair.start("replica-b", timing)
    return pair


@pytest.fixture
async def pair(installed: localcluster.ClusterState, tmp_path: Path) -> AsyncIterator[Pair]:
    p = await start_pair(installed, tmp_path, FAST)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def apps(kube: KubeClient) -> AsyncIterator[Apps]:
    async with deleting_apps(kube) as helper:
        yield helper


def leader_gauge(replica: Replica) -> float:
    """The `tether_leader` series the replica's /metrics serves."""
    family = next(
        f for f in ControllerCollector(replica.controller).collect() if f.name == "tether_leader"
    )
    return float(family.samples[0].value)


def other(pair: Pair, one: Replica) -> Replica:
    return next(r for r in pair.replicas if r is not one)


async def lease_holder(kube: KubeClient, name: str) -> str | None:
    lease = await kube.get(leader.API_VERSION, leader.KIND, name, APP_NS)
    return (lease.get("spec") or {}).get("holderIdentity")


async def test_only_the_lease_holder_reconciles_and_the_follower_serves_reads(
    pair: Pair, apps: Apps, git_repo: Any, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    first = await pair.leader()
    second = other(pair, first)
    name = await apps.create(git_repo.git_url, dest=dest_namespace, automated={"prune": True})
    await apps.wait_synced(name)
    await asyncio.sleep(4)  # a few polls and lease renewals

    assert await lease_holder(apps.kube, pair.lease) == first.name
    assert first.reconciles > 0
    assert second.reconciles == 0
    assert not second.controller.leading
    syncs = await apps.events(name, "Synced")
    assert len(syncs) == 1, [e.get("message") for e in syncs]
    # The follower answers reads from its own cache and is ready.
    assert second.controller.ready.is_set()
    assert leader_gauge(first) == 1.0
    assert leader_gauge(second) == 0.0
    seen = second.controller.app(name)
    assert seen is not None
    assert (seen.get("status") or {}).get("sync", {}).get("status") == "Synced"


async def test_two_replicas_racing_for_a_free_lease_elect_exactly_one(
    installed: localcluster.ClusterState, kube: KubeClient
) -> None:
    lease = f"race-{secrets.token_hex(3)}"
    electors = [
        leader.LeaderElector(kube, APP_NS, name=lease, identity=f"r{i}", timing=FAST)
        for i in range(4)
    ]
    won = await asyncio.gather(*(e._attempt() for e in electors))
    assert sorted(won) == [False, False, False, True]
    winner = electors[won.index(True)]
    assert await lease_holder(kube, lease) == winner.identity
    assert await winner.release()
    assert await lease_holder(kube, lease) is None
    await kube.delete(leader.API_VERSION, leader.KIND, lease, APP_NS)


async def test_graceful_stop_hands_the_lease_over_at_once(
    pair: Pair, apps: Apps, git_repo: Any, dest_namespace: str
) -> None:
    files = example_files()
    git_repo.commit(files)
    first = await pair.leader()
    second = other(pair, first)
    name = await apps.create(git_repo.git_url, dest=dest_namespace, automated={"prune": True})
    await apps.wait_synced(name)

    await first.stop_gracefully()
    # At once: the next try of the follower, well before the 4 s Lease would expire.
    assert await pair.leader(timeout=FAST.retry_period + 1.5) is second
    assert await lease_holder(apps.kube, pair.lease) == second.name

    sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "debug")})
    await apps.wait_synced(name, revision=sha)
    assert second.reconciles > 0


async def test_registry_credential_reconciler_runs_only_on_the_leader(pair: Pair) -> None:
    first = await pair.leader()
    second = other(pair, first)
    await asyncio.sleep(4)
    assert first.registry_passes
    assert not second.registry_passes

    await first.stop_gracefully()
    assert await pair.leader() is second
    stopped = time.monotonic()
    await await_for(
        lambda: _passes(second), timeout=15, what="the registry reconciler on the new leader"
    )
    assert all(t < stopped for t in first.registry_passes)


async def _passes(replica: Replica) -> bool | None:
    return True if replica.registry_passes else None


async def test_a_change_pushed_after_the_leader_crashed_is_synced_by_the_other_replica(
    installed: localcluster.ClusterState,
    tmp_path: Path,
    apps: Apps,
    git_repo: Any,
    dest_namespace: str,
) -> None:
    """Default timing (a 15 s Lease): the other replica syncs within 20 s of the crash."""
    files = example_files()
    git_repo.commit(files)
    pair = await start_pair(installed, tmp_path, leader.LeaseTiming())
    try:
        first = await pair.leader()
        second = other(pair, first)
        name = await apps.create(git_repo.git_url, dest=dest_namespace, automated={"prune": True})
        await apps.wait_synced(name)

        await first.crash()
        crashed = time.monotonic()
        sha = git_repo.commit(
            {CONFIGMAP: files[CONFIGMAP].replace("info", "debug")}, message="debug logging"
        )
        assert await lease_holder(apps.kube, pair.lease) == first.name  # nobody released it

        st = await apps.wait(
            name,
            lambda st: (
                (st.get("sync") or {}).get("revision") == sha
                and (st.get("sync") or {}).get("status") == "Synced"
            ),
            f"Synced at {sha[:12]} by the other replica, within 20 s of the crash",
            timeout=20 - (time.monotonic() - crashed),
        )
        assert st["history"][-1]["message"] == "debug logging"
        assert second.elector.leading
        assert await lease_holder(apps.kube, pair.lease) == second.name
        cm = await apps.kube.get("v1", "ConfigMap", "finance-api-config", dest_namespace)
        assert cm["data"]["LOG_LEVEL"] == "debug"
    finally:
        await pair.close()


async def test_the_controller_may_hold_its_own_lease_but_not_another_components(
    installed: localcluster.ClusterState, kube: KubeClient, namespace: str
) -> None:
    """Attack: with leases rights cluster-wide the controller could take the leader Lease
    of kube-controller-manager or the scheduler. Its Role covers its own Lease only."""
    config = await controller_kubeconfig(kube, APP_NS, hours=1)
    path = Path(installed.kubeconfig).with_name(f"ctl-{secrets.token_hex(3)}.kubeconfig")
    path.write_text(yaml.safe_dump(config))
    try:
        async with KubeClient.from_kubeconfig(str(path)) as as_controller:
            own = leader.LeaderElector(as_controller, APP_NS, identity="ctl", timing=FAST)
            assert await own._attempt()
            assert await own.release()

            victim = leader.LeaderElector(kube, namespace, name="kube-scheduler", identity="real")
            assert await victim._attempt()
            live = await as_controller.get(
                leader.API_VERSION, leader.KIND, "kube-scheduler", namespace
            )
            live["spec"]["holderIdentity"] = "ctl"
            with pytest.raises(ApiError) as caught:
                await as_controller.replace(live)
            assert caught.value.status == 403
            assert await lease_holder_in(kube, namespace, "kube-scheduler") == "real"
    finally:
        path.unlink(missing_ok=True)
        await kube.delete(leader.API_VERSION, leader.KIND, leader.LEASE_NAME, APP_NS)


async def lease_holder_in(kube: KubeClient, namespace: str, name: str) -> str | None:
    lease = await kube.get(leader.API_VERSION, leader.KIND, name, namespace)
    return (lease.get("spec") or {}).get("holderIdentity")


async def test_a_push_or_refresh_reaching_the_follower_is_synced_by_the_leader(
    installed: localcluster.ClusterState,
    tmp_path: Path,
    apps: Apps,
    git_repo: Any,
    dest_namespace: str,
) -> None:
    """The Service sends a webhook or `app refresh` to either replica. Polls every 300 s
    here, so only the refresh the follower hands to the leader explains the sync."""
    files = example_files()
    git_repo.commit(files)
    pair = await start_pair(installed, tmp_path, FAST, poll=300.0)
    try:
        first = await pair.leader()
        second = other(pair, first)
        name = await apps.create(git_repo.git_url, dest=dest_namespace, automated={"prune": True})
        await apps.wait_synced(name)

        sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "debug")})
        assert second.controller.refresh_repo(git_repo.git_url) == [name]
        await apps.wait_synced(name, revision=sha)
        assert second.reconciles == 0

        service = AppService(
            second.controller.kube,
            second.controller.reconciler,
            controller=second.controller,
            namespace=APP_NS,
        )
        sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "warn")})
        await service.refresh(name)
        await apps.wait_synced(name, revision=sha)
        assert second.reconciles == 0
    finally:
        await pair.close()


async def test_a_push_reaching_the_follower_is_handed_on_with_one_write(
    installed: localcluster.ClusterState,
    tmp_path: Path,
    apps: Apps,
    git_repo: Any,
    dest_namespace: str,
) -> None:
    """Three apps of one repository and a push the follower hears: it writes one
    annotation on the ``tether-pushes`` Lease and none on the apps, and the leader
    compares all three at the new commit (polls every 300 s here: only the handed-on
    push explains it)."""
    files = example_files()
    git_repo.commit(files)
    pair = await start_pair(installed, tmp_path, FAST, poll=300.0)
    try:
        first = await pair.leader()
        second = other(pair, first)
        names = [await apps.create(git_repo.git_url, dest=dest_namespace) for _ in range(3)]

        def at(revision: str | None) -> Any:
            return lambda s: s.get("sync", {}).get("revision") == revision if revision else None

        first_sha = git_repo.head()
        for name in names:
            await apps.wait(name, at(first_sha), f"revision {first_sha[:8]}")
        app_patches = ("patch", "tether.dev/applications", False)
        before = second.controller.kube.requests.snapshot().get(app_patches, 0)

        sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "debug")})
        assert sorted(second.controller.refresh_repo(git_repo.git_url)) == sorted(names)
        for name in names:  # compared at the new commit (three apps of one folder conflict)
            await apps.wait(name, at(sha), f"revision {sha[:8]}")

        assert second.controller.kube.requests.snapshot().get(app_patches, 0) == before
        assert second.reconciles == 0
        relay = await first.controller.kube.get(
            pushes.API_VERSION, pushes.KIND, pushes.LEASE, APP_NS
        )
        push = pushes.pushes_of(relay)[pushes.key_for(git_repo.git_url)]
        assert (push.url, push.by) == (git_repo.git_url, second.controller.refreshes.relay.identity)
    finally:
        await pair.close()


async def test_a_leader_that_cannot_renew_stops_before_the_other_starts(pair: Pair) -> None:
    """A partitioned leader gives up at its renew deadline (3 s), before its Lease
    expires (4 s) for the other replica: the two never reconcile at once."""
    first = await pair.leader()
    second = other(pair, first)

    async def partitioned() -> bool:
        raise OSError("network is unreachable")

    first.elector._try = partitioned  # type: ignore[method-assign]
    cut = time.monotonic()
    stopped = started = None
    while time.monotonic() - cut < 15 and (stopped is None or started is None):
        if stopped is None and not first.controller.leading:
            stopped = time.monotonic()
        if started is None and second.controller.leading:
            started = time.monotonic()
        await asyncio.sleep(0.02)
    assert stopped is not None, "the partitioned leader kept reconciling"
    assert started is not None, "the other replica never took over"
    assert stopped < started
    assert not first.elector.leading
    assert first.controller.registry_credentials._task is None


def test_lease_timing_must_renew_before_the_lease_expires() -> None:
    with pytest.raises(ValueError, match="renew_deadline"):
        leader.LeaseTiming(duration=10, renew_interval=5, renew_deadline=12)
    with pytest.raises(ValueError, match="renew_interval"):
        leader.LeaseTiming(renew_interval=0)
