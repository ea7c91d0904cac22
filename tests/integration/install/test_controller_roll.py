"""The controller rolled on a real node while commits are pushed: no sync is lost.

`helm upgrade` (a changed Pod annotation) and then `tether upgrade` roll the two controller
Pods one at a time while a commit is pushed every second. Each commit adds a ConfigMap;
the app must end Synced at the last commit with every commit's ConfigMap in the cluster
holding that commit's content, and the Lease must be held by a Pod of the new ReplicaSet.
`helm uninstall` then leaves nothing labelled by the release, in any namespace, and no
cluster-scoped RBAC.

The numbers (time from each push during the roll to the app Synced at it or a later
commit; the time of `tether upgrade` to a rolled, Ready controller) are printed for
docs/performance.md; nothing here asserts on time.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from incluster import CHART, HELM, TETHER, holder, pods

from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.engine import application as appmodel
from tether.testenv import cluster as localcluster

pytestmark = pytest.mark.cluster
APP_PATH = "apps/roll"
PUSH_EVERY = 1.0


def configmap(number: int) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"roll-{number}"},
            "data": {"commit": str(number), "payload": f"content of commit {number}"},
        }
    )


@dataclass
class Pushes:
    """Commits pushed while the controller rolls, and when each was first seen synced."""

    shas: list[str] = field(default_factory=list)
    pushed_at: list[float] = field(default_factory=list)
    synced_at: dict[int, float] = field(default_factory=dict)

    def delays(self) -> list[float]:
        return [self.synced_at[i] - self.pushed_at[i] for i in sorted(self.synced_at)]


async def create_app(kube: KubeClient, ns: str, repo_url: str) -> tuple[str, str]:
    name, dest = f"roll-{secrets.token_hex(3)}", f"r-{secrets.token_hex(4)}"
    await kube.create(
        {
            "apiVersion": appmodel.API_VERSION,
            "kind": appmodel.KIND,
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "source": {"repoURL": repo_url, "path": APP_PATH, "targetRevision": "main"},
                "destination": {"namespace": dest},
                "syncPolicy": {
                    "automated": {"prune": True},
                    "syncOptions": ["CreateNamespace=true"],
                },
            },
        }
    )
    return name, dest


async def sync_state(kube: KubeClient, ns: str, name: str) -> tuple[str | None, str | None]:
    app = await kube.get(appmodel.API_VERSION, appmodel.KIND, name, ns)
    sync = (app.get("status") or {}).get("sync") or {}
    return sync.get("status"), sync.get("revision")


async def roll_while_pushing(
    kube: KubeClient,
    kubectl: Callable[..., str],
    git_repo: Any,
    ns: str,
    name: str,
    dest: str,
    roll: Callable[[], subprocess.CompletedProcess[str]],
) -> tuple[Pushes, subprocess.CompletedProcess[str]]:
    """Run ``roll`` (a command that rolls the controller and waits for it) while a
    commit is pushed every second, then two more after it returned; wait for the
    app Synced at the last commit and check every commit's ConfigMap."""
    first = git_repo.commit({f"{APP_PATH}/roll-0.yaml": configmap(0)}, message="roll 0")

    async def synced_at(sha: str) -> bool:
        return await sync_state(kube, ns, name) == ("Synced", sha)

    await await_for(lambda: synced_at(first), timeout=120, what="the app synced before the roll")
    old_pods = {p["metadata"]["name"] for p in pods(kubectl, ns)}
    pushes = Pushes()
    rolling = True

    async def push() -> None:
        number, after = 0, 2  # two more once the roll is over
        while rolling or after > 0:
            if not rolling:
                after -= 1
            number += 1
            files = {f"{APP_PATH}/roll-{number}.yaml": configmap(number)}
            sha = await asyncio.to_thread(git_repo.commit, files, f"roll {number}")
            pushes.shas.append(sha)
            pushes.pushed_at.append(time.monotonic())
            await asyncio.sleep(PUSH_EVERY)

    async def watch() -> None:
        while True:
            status, revision = await sync_state(kube, ns, name)
            now = time.monotonic()
            if status == "Synced" and revision in pushes.shas:
                for index in range(pushes.shas.index(revision) + 1):
                    pushes.synced_at.setdefault(index, now)
            await asyncio.sleep(0.2)

    pusher = asyncio.create_task(push())
    watcher = asyncio.create_task(watch())
    try:
        done = await asyncio.to_thread(roll)
        rolling = False
        await pusher
        last = pushes.shas[-1]
        await await_for(
            lambda: synced_at(last), timeout=120, what=f"the app synced at the last push {last}"
        )
        await asyncio.sleep(0.5)
    finally:
        rolling = False
        watcher.cancel()
        pusher.cancel()
    # No commit's content lost: every ConfigMap, each with its own commit's content.
    for number in range(len(pushes.shas) + 1):
        cm = await kube.get("v1", "ConfigMap", f"roll-{number}", dest)
        assert cm["data"] == {"commit": str(number), "payload": f"content of commit {number}"}
    # The Lease passed to a Pod of the new ReplicaSet.
    new_pods = {p["metadata"]["name"] for p in pods(kubectl, ns)}

    async def new_leader() -> str | None:
        who = await holder(kube, ns)
        return who if who in new_pods else None

    await await_for(new_leader, timeout=30, what="a Pod of the new ReplicaSet holding the Lease")
    assert not new_pods & old_pods, (old_pods, new_pods)
    return pushes, done


def report(what: str, pushes: Pushes) -> None:
    delays = pushes.delays()
    print(
        f"\n{what}: {len(pushes.shas)} commits pushed during the roll; push to synced "
        f"median {statistics.median(delays):.1f} s, max {max(delays):.1f} s"
    )


def release_leftovers(kubectl: Callable[..., str], ns: str) -> set[str]:
    """Objects anywhere labelled by the release of namespace ``ns``."""
    kinds = (
        "all,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings,"
        "poddisruptionbudgets,secrets,configmaps,projects.tether.dev"
    )
    selector = f"app.kubernetes.io/instance=tether,tether.dev/install={ns}"
    listing = json.loads(kubectl("get", kinds, "-A", "-l", selector, "-o", "json"))
    return {
        f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        for o in listing["items"]
    }


async def test_helm_upgrade_rolls_without_a_lost_sync_and_uninstall_leaves_nothing(
    real_node_cluster: localcluster.ClusterState,
    release: str,
    real_kubectl: Callable[..., str],
    real_kube: KubeClient,
    git_repo: Any,
    pod_git_url: str,
) -> None:
    ns, kube = release, real_kube
    name, dest = await create_app(kube, ns, pod_git_url)
    helm = [HELM, f"--kubeconfig={real_node_cluster.kubeconfig}", f"--namespace={ns}"]

    def helm_upgrade() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *(*helm, "upgrade", "tether", str(CHART), "--reuse-values"),
                *("--set=podAnnotations.roll=helm", "--wait", "--timeout=5m"),
            ],
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
        )

    try:
        pushes, done = await roll_while_pushing(
            kube, real_kubectl, git_repo, ns, name, dest, helm_upgrade
        )
        assert done.returncode == 0, done.stderr
        report("helm upgrade", pushes)
    finally:
        await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, ns)
        real_kubectl("delete", "namespace", dest, "--wait=false", "--ignore-not-found", check=False)

    assert release_leftovers(real_kubectl, ns)
    done = subprocess.run(
        [*helm, "uninstall", "tether", "--wait"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr

    async def nothing_left() -> bool:
        return not await asyncio.to_thread(release_leftovers, real_kubectl, ns)

    await await_for(nothing_left, timeout=60, what="nothing labelled by the release")
    for kind, name in (
        ("clusterrole", "tether-controller"),
        ("clusterrolebinding", f"{ns}-controller"),
        ("clusterrolebinding", f"{ns}-deployer"),
    ):
        assert real_kubectl("get", kind, name, "--ignore-not-found", "-o", "name") == ""


async def test_tether_upgrade_rolls_without_a_lost_sync(
    real_node_cluster: localcluster.ClusterState,
    tether_installed: str,
    real_kubectl: Callable[..., str],
    real_kube: KubeClient,
    git_repo: Any,
    pod_git_url: str,
) -> None:
    ns, kube = tether_installed, real_kube
    name, dest = await create_app(kube, ns, pod_git_url)
    timing: dict[str, float] = {}

    def tether_upgrade() -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        done = subprocess.run(
            [
                *(TETHER, "upgrade", "--set", "podAnnotations.roll=tether"),
                *(f"--kubeconfig={real_node_cluster.kubeconfig}", f"--app-namespace={ns}"),
            ],
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
            env={**os.environ, "COLUMNS": "400"},
        )
        timing["wall"] = time.monotonic() - started
        return done

    try:
        pushes, done = await roll_while_pushing(
            kube, real_kubectl, git_repo, ns, name, dest, tether_upgrade
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "rollout: 2 of 2 updated, 2 available, 0 old" in done.stdout
        assert ": rolled out; 2 of 2 Pods Ready" in done.stdout
        leader = re.search(r"leader \(Lease tether-controller\): (\S+)", done.stdout)
        assert leader and leader.group(1) in {p["metadata"]["name"] for p in pods(real_kubectl, ns)}
        report("tether upgrade", pushes)
        ready = re.search(r"Pods Ready in ([0-9.]+) s", done.stdout)
        print(
            f"tether upgrade to a rolled, Ready controller: {ready and ready.group(1)} s "
            f"(the command, with render and apply: {timing['wall']:.1f} s)"
        )
    finally:
        await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, ns)
        real_kubectl("delete", "namespace", dest, "--wait=false", "--ignore-not-found", check=False)
