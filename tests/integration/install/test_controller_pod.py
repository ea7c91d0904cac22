"""The controller as Pods: the chart installs, both replicas are Ready, an app syncs from
the in-cluster leader, and killing the leader Pod hands the next push to the other one.

Needs what kwok cannot fake: a node that runs containers (`tether cluster up
--real-nodes`) and the tether image in a registry those nodes pull from. Set
``TETHER_CONTROLLER_IMAGE`` to the image reference and, when the registry needs
credentials, ``TETHER_CONTROLLER_DOCKERCONFIG`` to a ``.dockerconfigjson`` file.
The Pods reach the test's Git repository through a git daemon this test starts
on the real node's InternalIP.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.gitserver import free_port, wait_for_port
from fixtures.tether import example_files
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller import leader
from tether.engine import application as appmodel
from tether.testenv import cluster as localcluster
from tether.testenv.binaries import helm_path
from tether.testenv.nodes import NODE_ANNOTATION

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "tether"
IMAGE = os.environ.get("TETHER_CONTROLLER_IMAGE", "")
DOCKERCONFIG = os.environ.get("TETHER_CONTROLLER_DOCKERCONFIG", "")
CONFIGMAP = "apps/finance/configmap.yaml"

pytestmark = pytest.mark.skipif(
    not IMAGE,
    reason="set TETHER_CONTROLLER_IMAGE to the tether image (issue 11 item 2) to run the "
    "controller as Pods",
)


def real_node_address(cluster: localcluster.ClusterState) -> str | None:
    """The InternalIP of a Ready node that runs containers (not a kwok node), if any."""
    with cluster.client() as http:
        nodes = http.get("/api/v1/nodes").json().get("items", [])
    for node in nodes:
        if NODE_ANNOTATION in (node["metadata"].get("annotations") or {}):
            continue
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in node.get("status", {}).get("conditions", [])
        )
        addresses = {a["type"]: a["address"] for a in node["status"].get("addresses", [])}
        if ready and "InternalIP" in addresses:
            return addresses["InternalIP"]
    return None


@pytest.fixture
def node_ip(cluster: localcluster.ClusterState) -> str:
    if not helm_path().exists():
        pytest.skip("helm is installed by `make tools`")
    address = real_node_address(cluster)
    if address is None:
        pytest.skip("no Ready node runs containers: start the cluster with --real-nodes")
    return address


@pytest.fixture
def pod_git_url(node_ip: str, git_repo: Any) -> Iterator[str]:
    """The test repository, served where the controller Pods can reach it."""
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--reuseaddr",
            f"--base-path={git_repo.server.repos}",
            f"--listen={node_ip}",
            f"--port={port}",
            str(git_repo.server.repos),
        ],
        env=git_repo.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, daemon)
        yield f"git://{node_ip}:{port}/{git_repo.name}.git"
    finally:
        daemon.terminate()
        daemon.wait(10)


@pytest.fixture
def release(
    installed: localcluster.ClusterState, kubectl: Callable[..., str], node_ip: str
) -> Iterator[str]:
    """The chart installed by helm in a fresh namespace; uninstalled afterwards."""
    ns = f"tp-{secrets.token_hex(3)}"
    kubectl("create", "namespace", ns)
    values = [
        f"--set=image.ref={IMAGE}",
        f"--set=rbac.clusterRoleName={ns}-controller",
        "--set=controller.pollSeconds=3",
    ]
    if DOCKERCONFIG:
        kubectl(
            "-n",
            ns,
            "create",
            "secret",
            "generic",
            "tether-image-pull",
            "--type=kubernetes.io/dockerconfigjson",
            f"--from-file=.dockerconfigjson={DOCKERCONFIG}",
        )
        values.append("--set=imagePullSecrets[0].name=tether-image-pull")
    helm = [str(helm_path()), f"--kubeconfig={installed.kubeconfig}", f"--namespace={ns}"]
    subprocess.run(
        [*helm, "install", "tether", str(CHART), *values, "--wait", "--timeout=5m"],
        check=True,
        capture_output=True,
        timeout=400,
    )
    try:
        yield ns
    finally:
        subprocess.run([*helm, "uninstall", "tether", "--wait"], capture_output=True, check=False)
        kubectl("delete", "namespace", ns, "--wait=false", check=False)


def pods(kubectl: Callable[..., str], ns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        kubectl(
            "-n", ns, "get", "pods", "-l", "app.kubernetes.io/component=controller", "-o", "json"
        )
    )["items"]
    return items


async def holder(kube: KubeClient, ns: str) -> str | None:
    lease = await kube.get_or_none(leader.API_VERSION, leader.KIND, leader.LEASE_NAME, ns)
    return ((lease or {}).get("spec") or {}).get("holderIdentity")


async def app_status(kube: KubeClient, ns: str, name: str) -> dict[str, Any]:
    app = await kube.get(appmodel.API_VERSION, appmodel.KIND, name, ns)
    return app.get("status") or {}


async def test_killing_the_leader_pod_hands_the_next_push_to_the_other_replica(
    release: str,
    kubectl: Callable[..., str],
    kube: KubeClient,
    git_repo: Any,
    pod_git_url: str,
    dest_namespace: str,
) -> None:
    ns = release
    running = pods(kubectl, ns)
    assert len(running) == 2
    for pod in running:  # both Ready: /readyz answers on the leader and on the follower
        ready = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        assert ready.get("Ready") == "True", pod["metadata"]["name"]
    names = {p["metadata"]["name"] for p in running}

    async def lead() -> str | None:
        who = await holder(kube, ns)
        return who if who in names else None

    first = await await_for(lead, timeout=30, what="a controller Pod holding the Lease")

    files = example_files()
    git_repo.commit(files)
    name = f"pod-{secrets.token_hex(3)}"
    await kube.create(
        {
            "apiVersion": appmodel.API_VERSION,
            "kind": appmodel.KIND,
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "source": {
                    "repoURL": pod_git_url,
                    "path": "apps/finance",
                    "targetRevision": "main",
                },
                "destination": {"namespace": dest_namespace},
                "syncPolicy": {
                    "automated": {"prune": True},
                    "syncOptions": ["CreateNamespace=true"],
                },
            },
        }
    )

    async def synced(revision: str | None = None) -> dict[str, Any] | None:
        st = await app_status(kube, ns, name)
        sync = st.get("sync") or {}
        ok = sync.get("status") == "Synced" and revision in (None, sync.get("revision"))
        return st if ok else None

    await await_for(synced, timeout=120, what="the app synced by the in-cluster controller")

    kubectl("-n", ns, "delete", "pod", first, "--grace-period=0", "--force")
    killed = time.monotonic()
    sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "debug")})
    await await_for(
        lambda: synced(sha),
        timeout=20 - (time.monotonic() - killed),
        what=f"{sha[:12]} synced by the other replica within 20 s of the kill",
    )
    second = await holder(kube, ns)
    assert second in names - {first}
    cm = await kube.get("v1", "ConfigMap", "finance-api-config", dest_namespace)
    assert cm["data"]["LOG_LEVEL"] == "debug"
    await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, ns)
