"""The controller as Pods on a real node: the chart installs, both replicas are Ready, an
app syncs from the in-cluster leader, and a push made right after the leader's process is
killed (kill -9: the Lease is not released) or its Pod is deleted (SIGTERM: released) is
synced within 20 s.

The tether image is built without a Docker daemon, pushed to the authenticated local
registry and pulled by containerd with the chart's imagePullSecrets. The Pods reach the
test's Git repository through a git daemon on the node's bridge address (docs/testenv.md).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.cluster import KUBECTL
from fixtures.gitserver import free_port
from fixtures.registry import RegistryServer
from fixtures.tether import example_files
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller import leader
from tether.engine import application as appmodel
from tether.engine.registry.spec import dockerconfigjson
from tether.testenv import cluster as localcluster
from tether.testenv import images
from tether.testenv.binaries import helm_path

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "tether"
TETHER = str(Path(sys.executable).with_name("tether"))
CONFIGMAP = "apps/finance/configmap.yaml"
NODE_SELECTOR = {"tether.dev/real-node": "true"}
PULL_SECRET = "tether-image-pull"


def node_ip(cluster: localcluster.ClusterState) -> str:
    """The bridge address of the first real node: where Pods reach the host."""
    with cluster.client() as http:
        nodes = http.get("/api/v1/nodes", params={"labelSelector": "tether.dev/real-node"}).json()
    for node in nodes.get("items", []):
        for address in node["status"].get("addresses", []):
            if address["type"] == "InternalIP":
                return str(address["address"])
    raise AssertionError("the real node has no InternalIP")


@pytest.fixture(scope="module")
def tether_image(
    real_node_cluster: localcluster.ClusterState, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, bytes]]:
    """The tether image in an authenticated registry the real node pulls from:
    (reference, .dockerconfigjson)."""
    server = RegistryServer(tmp_path_factory.mktemp("tether-registry"))
    with server:
        user, password = server.add_user("ops")
        ref = images.push(images.tether_image(), server.host, user, password, tls_verify=False)
        trusted = subprocess.run(
            [
                TETHER,
                "cluster",
                "trust-registry",
                server.host,
                "--dir",
                real_node_cluster.directory,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert trusted.returncode == 0, trusted.stderr
        yield ref, dockerconfigjson(server.host, user, password)


@pytest.fixture
def real_kubectl(real_node_cluster: localcluster.ClusterState) -> Callable[..., str]:
    def run(*args: str, check: bool = True) -> str:
        done = subprocess.run(
            [KUBECTL, f"--kubeconfig={real_node_cluster.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
        return done.stdout

    return run


@pytest.fixture
async def real_kube(real_node_cluster: localcluster.ClusterState) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_kubeconfig(real_node_cluster.kubeconfig) as kube:
        yield kube


@pytest.fixture
def pod_git_url(real_node_cluster: localcluster.ClusterState, git_repo: Any) -> Iterator[str]:
    """The test repository, served where the controller Pods can reach it."""
    address = node_ip(real_node_cluster)
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--reuseaddr",
            f"--base-path={git_repo.server.repos}",
            f"--listen={address}",
            f"--port={port}",
            str(git_repo.server.repos),
        ],
        env=git_repo.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port_on(address, port, daemon)
        yield f"git://{address}:{port}/{git_repo.name}.git"
    finally:
        daemon.terminate()
        daemon.wait(10)


def wait_for_port_on(address: str, port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("git daemon exited")
        with socket.socket() as sock:
            if sock.connect_ex((address, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {address}:{port}")


@pytest.fixture
def release(
    real_node_cluster: localcluster.ClusterState,
    real_kubectl: Callable[..., str],
    tether_image: tuple[str, bytes],
    tmp_path: Path,
) -> Iterator[str]:
    """The chart installed by helm (--wait: both Pods Ready) in a fresh namespace."""
    ref, config = tether_image
    ns = f"tp-{secrets.token_hex(3)}"
    real_kubectl("create", "namespace", ns)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": PULL_SECRET, "namespace": ns},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config).decode()},
    }
    values = tmp_path / "values.json"
    values.write_text(
        json.dumps(
            {
                "image": {"ref": ref},
                "imagePullSecrets": [{"name": PULL_SECRET}],
                "nodeSelector": NODE_SELECTOR,
                "controller": {"pollSeconds": 3},
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
            }
        )
    )
    subprocess.run(
        [KUBECTL, f"--kubeconfig={real_node_cluster.kubeconfig}", "apply", "-f", "-"],
        input=json.dumps(secret),
        text=True,
        capture_output=True,
        check=True,
    )
    helm = [str(helm_path()), f"--kubeconfig={real_node_cluster.kubeconfig}", f"--namespace={ns}"]
    done = subprocess.run(
        [*helm, "install", "tether", str(CHART), f"--values={values}", "--wait", "--timeout=5m"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    if done.returncode != 0:
        pods = real_kubectl("-n", ns, "get", "pods", "-o", "wide", check=False)
        events = real_kubectl("-n", ns, "get", "events", check=False)
        logs = real_kubectl("-n", ns, "logs", "deploy/tether-controller", "--tail=40", check=False)
        pytest.fail(f"helm install: {done.stderr}\n{pods}\n{events}\n{logs}")
    try:
        yield ns
    finally:
        subprocess.run([*helm, "uninstall", "tether", "--wait"], capture_output=True, check=False)
        real_kubectl("delete", "namespace", ns, "--wait=false", check=False)


def pods(kubectl: Callable[..., str], ns: str) -> list[dict[str, Any]]:
    listing = kubectl(
        "-n", ns, "get", "pods", "-l", "app.kubernetes.io/component=controller", "-o", "json"
    )
    items: list[dict[str, Any]] = json.loads(listing)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def controller_pid(pod_name: str) -> int:
    """The host pid of the controller process of ``pod_name`` (the node is this host)."""
    want = f"POD_NAME={pod_name}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if want in environ and b"--leader-elect" in cmdline:
            return int(proc.name)
    raise AssertionError(f"no controller process of {pod_name} on this host")


async def holder(kube: KubeClient, ns: str) -> str | None:
    lease = await kube.get_or_none(leader.API_VERSION, leader.KIND, leader.LEASE_NAME, ns)
    return ((lease or {}).get("spec") or {}).get("holderIdentity")


async def test_in_cluster_controller_syncs_and_survives_a_killed_and_a_deleted_leader(
    release: str,
    real_kubectl: Callable[..., str],
    real_kube: KubeClient,
    git_repo: Any,
    pod_git_url: str,
) -> None:
    ns, kube = release, real_kube
    running = pods(real_kubectl, ns)
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
    # The finance Deployment's image is not in any registry here: a ConfigMap tells the story.
    git_repo.commit({**files, **example_files("kustomize", "apps/finance-k")})
    name, dest = f"pod-{secrets.token_hex(3)}", f"d-{secrets.token_hex(4)}"
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
                "destination": {"namespace": dest},
                "syncPolicy": {
                    "automated": {"prune": True},
                    "syncOptions": ["CreateNamespace=true"],
                },
            },
        }
    )
    try:

        async def synced(revision: str | None = None) -> dict[str, Any] | None:
            app = await kube.get(appmodel.API_VERSION, appmodel.KIND, name, ns)
            st = app.get("status") or {}
            sync = st.get("sync") or {}
            ok = sync.get("status") == "Synced" and revision in (None, sync.get("revision"))
            return st if ok else None

        try:
            await await_for(synced, timeout=120, what="the app synced by the in-cluster controller")
        except AssertionError:
            app = await kube.get(appmodel.API_VERSION, appmodel.KIND, name, ns)
            logs = real_kubectl("-n", ns, "logs", first, "--tail=60", check=False)
            pytest.fail(f"not synced: {json.dumps(app.get('status'))[:3000]}\n{logs}")

        # kustomize runs in the Pod too, in its network-less sandbox.
        kustomized = f"podk-{secrets.token_hex(3)}"
        await kube.create(
            {
                "apiVersion": appmodel.API_VERSION,
                "kind": appmodel.KIND,
                "metadata": {"name": kustomized, "namespace": ns},
                "spec": {
                    "source": {
                        "repoURL": pod_git_url,
                        "path": "apps/finance-k/overlays/dev",
                        "targetRevision": "main",
                    },
                    "destination": {"namespace": dest + "-k"},
                    "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
                },
            }
        )
        try:

            async def compared() -> dict[str, Any] | None:
                app = await kube.get(appmodel.API_VERSION, appmodel.KIND, kustomized, ns)
                st = app.get("status") or {}
                return st if (st.get("sync") or {}).get("status") == "OutOfSync" else None

            await await_for(compared, timeout=60, what="the kustomize app rendered and compared")
        finally:
            await kube.delete(appmodel.API_VERSION, appmodel.KIND, kustomized, ns)

        # A crash: SIGKILL to the leader's process, no chance to release the Lease.
        pid = controller_pid(first)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "debug")})
        await await_for(
            lambda: synced(sha),
            timeout=20 - (time.monotonic() - killed),
            what=f"{sha[:12]} synced within 20 s of kill -9 of the leader's process",
        )
        cm = await kube.get("v1", "ConfigMap", "finance-api-config", dest)
        assert cm["data"]["LOG_LEVEL"] == "debug"

        # The Pod deleted: SIGTERM releases the Lease and another replica leads.
        current = await await_for(lead, timeout=30, what="a leader after the crash")
        real_kubectl("-n", ns, "delete", "pod", current, "--grace-period=0", "--force")
        deleted = time.monotonic()
        sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "warn")})
        await await_for(
            lambda: synced(sha),
            timeout=20 - (time.monotonic() - deleted),
            what=f"{sha[:12]} synced by another replica within 20 s of the Pod's deletion",
        )
        # The Deployment replaces the deleted Pod at once, so the new Pod may win the
        # Lease as fairly as the surviving replica: either is right, the deleted one is not.
        now = await holder(kube, ns)
        assert now is not None and now != current
        assert now in {p["metadata"]["name"] for p in pods(real_kubectl, ns)}
    finally:
        await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, ns)
        real_kubectl("delete", "namespace", dest, "--wait=false", "--ignore-not-found", check=False)
