"""Helpers for the real-node tests: host snapshots, Pods, images, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tether.testenv import cluster as localcluster
from tether.testenv import hostcheck, nodeconfig, ociarchive, realnode
from tether.testenv.nodebinaries import NodeBinaries

HELLO = "local.test/hello:1.0"
TETHER = str(Path(sys.executable).with_name("tether"))


def host_snapshot(directory: Path) -> dict[str, Any]:
    def lines(cmd: list[str]) -> list[str]:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
        return sorted(ln for ln in out.splitlines() if not ln.startswith("-P "))

    cgroups = sorted(str(p) for root in hostcheck.cgroup_roots() for p in root.glob("tether-*"))
    procs = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(directory) in cmdline:
                procs.append(cmdline)
    return {
        "processes": procs,
        "mounts": [
            ln
            for ln in Path("/proc/self/mountinfo").read_text().splitlines()
            if str(directory) in ln
        ],
        "links": lines(["ip", "-o", "link", "show"]),
        "addresses": lines(["ip", "-o", "-4", "addr", "show"]),
        "iptables": [
            rule
            for tool in ("iptables", "ip6tables")
            for table in ("filter", "nat", "mangle")
            for rule in lines([tool, "-w", "-t", table, "-S"])
        ],
        "cgroups": cgroups,
        "cni-cache": sorted(os.listdir("/var/lib/cni/results"))
        if os.path.isdir("/var/lib/cni/results")
        else [],
        "kubelet-host-dir": os.path.exists("/var/lib/kubelet"),
        "sysctls": {k: Path("/proc/sys", k).read_text() for k in realnode.HOST_SYSCTLS},
        "shim-sockets": sorted(os.listdir("/run/containerd/s"))
        if os.path.isdir("/run/containerd/s")
        else [],
    }


def wait(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def import_hello(state: localcluster.ClusterState, body: str) -> None:
    archive = Path(state.directory) / "hello.tar"
    ociarchive.write_archive(ociarchive.busybox_http_image(HELLO, body), archive)
    node = nodeconfig.NodeLayout(Path(state.directory), 0)
    realnode.import_image(node, NodeBinaries.locate(), archive)


def pod_spec(name: str, image: str, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "web",
        "image": image,
        "ports": [{"containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
    }
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"nodeSelector": {"type": "real"}, "containers": [container], **spec},
    }


def ready(pod: dict[str, Any]) -> bool:
    conds = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


def run_pod(client: httpx.Client, ns: str, pod: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    resp = client.post(f"/api/v1/namespaces/{ns}/pods", json=pod)
    assert resp.status_code == 201, resp.text
    name = pod["metadata"]["name"]
    live = wait(
        lambda: (p := client.get(f"/api/v1/namespaces/{ns}/pods/{name}").json()) and ready(p) and p,
        f"pod {name} Ready",
    )
    return live, time.monotonic() - started


def tether(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TETHER, *args], capture_output=True, text=True, check=False, timeout=300)
