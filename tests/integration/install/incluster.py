"""Helpers shared by the in-cluster install tests (fixtures are in conftest.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tether.adapters.kube import KubeClient
from tether.controller import leader
from tether.testenv import cluster as localcluster
from tether.testenv.binaries import helm_path

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "tether"
TETHER = str(Path(sys.executable).with_name("tether"))
HELM = str(helm_path())
CONFIGMAP = "apps/finance/configmap.yaml"
NODE_SELECTOR = {"tether.dev/real-node": "true"}
PULL_SECRET = "tether-image-pull"


def pod_values(ref: str) -> dict[str, Any]:
    """Chart values for the controller Pods on the real node: the image from the
    authenticated registry, a 3 s Git poll, small requests."""
    return {
        "image": {"ref": ref},
        "imagePullSecrets": [{"name": PULL_SECRET}],
        "nodeSelector": NODE_SELECTOR,
        "controller": {"pollSeconds": 3},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
    }


def node_ip(cluster: localcluster.ClusterState) -> str:
    """The bridge address of the first real node: where Pods reach the host."""
    with cluster.client() as http:
        nodes = http.get("/api/v1/nodes", params={"labelSelector": "tether.dev/real-node"}).json()
    for node in nodes.get("items", []):
        for address in node["status"].get("addresses", []):
            if address["type"] == "InternalIP":
                return str(address["address"])
    raise AssertionError("the real node has no InternalIP")


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


def helm(cluster: localcluster.ClusterState, *args: str) -> str:
    done = subprocess.run(
        [HELM, f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert done.returncode == 0, f"helm {' '.join(args)}: {done.stderr}"
    return done.stdout


def names(kubectl: Callable[..., str], *args: str) -> set[str]:
    listing = json.loads(kubectl("get", *args, "-o", "json"))
    return {
        f"{o['kind']}/{o['metadata']['name']}"
        for o in listing["items"]
        if not o["metadata"].get("ownerReferences")  # ReplicaSets, Pods follow their owner
    }
