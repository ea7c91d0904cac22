"""Two `tether controller --leader-elect` processes acting as the tether-controller
ServiceAccount, as the chart's two replicas do: the RBAC `tether install` grants is
enough to lead, both serve /readyz, and SIGTERM on the leader hands over at once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fixtures.gitserver import free_port
from fixtures.tether import APP_NS, Apps, deleting_apps, example_files
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller import leader
from tether.controller.install import controller_kubeconfig
from tether.testenv import cluster as localcluster

TETHER = str(Path(sys.executable).with_name("tether"))
CONFIGMAP = "apps/finance/configmap.yaml"


class Replica:
    def __init__(self, kubeconfig: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    TETHER,
                    "controller",
                    "--leader-elect",
                    f"--listen=127.0.0.1:{self.port}",
                    f"--kubeconfig={kubeconfig}",
                    "--poll=3",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        # The identity the process gives itself (no POD_NAME outside a Pod).
        self.identity_suffix = f"-{self.proc.pid}"

    async def ready(self) -> bool:
        async with httpx.AsyncClient() as http:
            try:
                resp = await http.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2)
            except httpx.HTTPError:
                return False
            return resp.status_code == 200

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
async def replicas(
    installed: localcluster.ClusterState, kube: KubeClient, tmp_path: Path
) -> AsyncIterator[Callable[[], Replica]]:
    config = tmp_path / "controller.kubeconfig"
    config.write_text(yaml.safe_dump(await controller_kubeconfig(kube, APP_NS, hours=1)))
    config.chmod(0o600)
    made: list[Replica] = []

    def make() -> Replica:
        made.append(Replica(config, tmp_path / f"replica-{len(made)}.log"))
        return made[-1]

    yield make
    for replica in made:
        replica.stop()
    await kube.delete(leader.API_VERSION, leader.KIND, leader.LEASE_NAME, APP_NS)


@pytest.fixture
async def apps(kube: KubeClient) -> AsyncIterator[Apps]:
    async with deleting_apps(kube) as helper:
        yield helper


async def holder(kube: KubeClient) -> str:
    lease = await kube.get_or_none(leader.API_VERSION, leader.KIND, leader.LEASE_NAME, APP_NS)
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


async def test_sigterm_on_the_leader_process_hands_the_lease_and_the_next_push_over(
    replicas: Callable[[], Replica],
    kube: KubeClient,
    apps: Apps,
    git_repo: Any,
    dest_namespace: str,
) -> None:
    one, two = replicas(), replicas()
    for replica in (one, two):  # leader and follower alike: ready once the cache is filled
        await await_for(replica.ready, timeout=60, what=f"/readyz of {replica.log.name}")

    async def leading() -> Replica | None:
        who = await holder(kube)
        return next((r for r in (one, two) if who.endswith(r.identity_suffix)), None)

    first = await await_for(leading, timeout=30, what="one process holding the Lease")
    second = two if first is one else one

    files = example_files()
    git_repo.commit(files)
    name = await apps.create(git_repo.git_url, dest=dest_namespace, automated={"prune": True})
    await apps.wait_synced(name)

    first.stop(signal.SIGTERM)
    assert first.proc.returncode == 0, first.log.read_text()[-2000:]
    # Released on the way out: the other process leads on its next try (2 s), not after 15 s.
    assert await await_for(leading, timeout=5, what="the other process leading") is second
    sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "debug")})
    await apps.wait_synced(name, revision=sha)
    assert "released the Lease" in first.log.read_text()
