"""Two `tether controller --shards auto` processes acting as the tether-controller
ServiceAccount, as the chart with `sharding.enabled` runs them: the RBAC `tether install`
grants is enough to hold, list and delete shard Leases, each app is synced, and SIGTERM
deletes the stopping process's Lease so its apps move at once.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fixtures.gitserver import free_port
from fixtures.tether import APP_NS, Apps, deleting_apps, example_files
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller import leader, sharding
from tether.controller.install import controller_kubeconfig
from tether.engine.sharding import Ring
from tether.testenv import cluster as localcluster

TETHER = str(Path(sys.executable).with_name("tether"))
CONFIGMAP = "apps/finance/configmap.yaml"


class Process:
    def __init__(self, kubeconfig: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    TETHER,
                    "controller",
                    "--shards=auto",
                    f"--listen=127.0.0.1:{self.port}",
                    f"--kubeconfig={kubeconfig}",
                    "--poll=3",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.suffix = f"-{self.proc.pid}"

    async def ready(self) -> bool:
        async with httpx.AsyncClient() as http:
            try:
                resp = await http.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2)
            except httpx.HTTPError:
                return False
            return resp.status_code == 200

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
async def processes(
    installed: localcluster.ClusterState, kube: KubeClient, tmp_path: Path
) -> AsyncIterator[list[Process]]:
    config = tmp_path / "controller.kubeconfig"
    config.write_text(yaml.safe_dump(await controller_kubeconfig(kube, APP_NS, hours=1)))
    config.chmod(0o600)
    made = [Process(config, tmp_path / f"shard-{i}.log") for i in range(2)]
    try:
        yield made
    finally:
        for p in made:
            p.stop()
        api = await kube.resource_for(leader.API_VERSION, leader.KIND)
        selector = f"{sharding.GROUP_LABEL}={sharding.DEFAULT_GROUP}"
        for lease in (await kube.list(api, APP_NS, label_selector=selector))[0]:
            await kube.delete(leader.API_VERSION, leader.KIND, lease["metadata"]["name"], APP_NS)
        await kube.delete(leader.API_VERSION, leader.KIND, leader.LEASE_NAME, APP_NS)


@pytest.fixture
async def apps(kube: KubeClient) -> AsyncIterator[Apps]:
    async with deleting_apps(kube) as helper:
        yield helper


async def shard_leases(kube: KubeClient) -> dict[str, str]:
    """Holder -> members published, for the default shard group."""
    api = await kube.resource_for(leader.API_VERSION, leader.KIND)
    items, _ = await kube.list(
        api, APP_NS, label_selector=f"{sharding.GROUP_LABEL}={sharding.DEFAULT_GROUP}"
    )
    return {
        str(i["spec"].get("holderIdentity")): str(
            i["metadata"].get("annotations", {}).get(sharding.MEMBERS_ANNOTATION, "")
        )
        for i in items
    }


async def test_shards_auto_processes_split_the_apps_and_sigterm_hands_them_over(
    processes: list[Process], kube: KubeClient, apps: Apps, git_repo: Any, dest_namespace: str
) -> None:
    one, two = processes
    for p in processes:
        await await_for(p.ready, timeout=60, what=f"/readyz of {p.log.name}")

    async def both_published() -> dict[str, str] | None:
        leases = {h: m for h, m in (await shard_leases(kube)).items() if h.endswith(one.suffix)}
        leases |= {h: m for h, m in (await shard_leases(kube)).items() if h.endswith(two.suffix)}
        ok = len(leases) == 2 and all(len(m.split(",")) >= 2 for m in leases.values())
        return leases if ok else None

    leases = await await_for(both_published, timeout=30, what="both shard Leases naming both")
    files = example_files()
    git_repo.commit(files)
    dests = [f"{dest_namespace}-{i}" for i in range(4)]
    try:
        names = [await apps.create(git_repo.git_url, dest=dest, automated={}) for dest in dests]
        for name in names:
            await apps.wait_synced(name)

        one.stop()
        assert one.proc.returncode == 0, (one.proc.returncode, one.log.read_text()[-2000:])
        assert "left the ring" in one.log.read_text()
        gone = next(h for h in leases if h.endswith(one.suffix))
        assert gone not in await shard_leases(kube)  # released: the other takes its apps now
        sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "debug")})
        for name in names:
            await apps.wait_synced(name, revision=sha)
    finally:
        for dest in dests:
            await kube.delete("v1", "Namespace", dest)


async def test_sigkill_of_one_process_moves_its_apps_within_the_lease_time(
    processes: list[Process], kube: KubeClient, apps: Apps, git_repo: Any, dest_namespace: str
) -> None:
    """A killed Pod: its Lease stays until it expires (10 s); a change pushed right
    after the kill is synced by the other process within 20 s."""
    one, two = processes
    for p in processes:
        await await_for(p.ready, timeout=60, what=f"/readyz of {p.log.name}")

    async def both_published() -> list[str] | None:
        leases = await shard_leases(kube)
        ids = sorted(h for h in leases if h.endswith((one.suffix, two.suffix)))
        return ids if len(ids) == 2 and all(leases[i] == ",".join(ids) for i in ids) else None

    members = await await_for(both_published, timeout=30, what="both shard Leases naming both")
    # Names the ring gives the process about to be killed (2) and the other one (2).
    ring = Ring(members)
    victim = next(m for m in members if m.endswith(one.suffix))
    candidates = [f"k{secrets.token_hex(2)}-{i}" for i in range(40)]
    mine = [n for n in candidates if ring.owner(n) == victim][:2]
    theirs = [n for n in candidates if ring.owner(n) != victim][:2]
    files = example_files()
    git_repo.commit(files)
    dests = [f"{dest_namespace}-{i}" for i in range(4)]
    try:
        names = [
            await apps.create(git_repo.git_url, dest=dest, automated={}, name=name)
            for name, dest in zip(mine + theirs, dests, strict=True)
        ]
        for name in names:
            await apps.wait_synced(name)

        one.proc.kill()
        one.proc.wait(5)
        killed = time.monotonic()
        assert any(h.endswith(one.suffix) for h in await shard_leases(kube))  # left behind
        sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "debug")})
        for name in names:
            await apps.wait_synced(name, revision=sha)
        took = time.monotonic() - killed
        print(f"{len(names)} apps at the pushed revision {took:.1f} s after the kill")
        assert took <= 20
        # The killed process's apps waited for its Lease to expire.
        assert took >= sharding.SHARD_TIMING.renew_deadline
    finally:
        for dest in dests:
            await kube.delete("v1", "Namespace", dest)
        for lease in [h for h in await shard_leases(kube) if h.endswith(one.suffix)]:
            await kube.delete(leader.API_VERSION, leader.KIND, sharding.lease_name(lease), APP_NS)
