"""Taking real nodes apart so that nothing is left on the host.

Stopping the processes is not enough: containers outlive their kubelet,
runc leaves cgroups, containerd leaves overlay, shm and network-namespace
mounts, the CNI bridge and kube-proxy's iptables chains stay in the host
network namespace. ``teardown`` removes each of them, in an order where
every step can succeed (containers before mounts, mounts before cgroups),
and only what belongs to this cluster: paths under its directory, cgroups
and bridges named after its nodes, processes whose command line names it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path

from tether.testenv import hostcheck, nodeconfig, processes, realnode
from tether.testenv.nodebinaries import NodeBinaries


def mounts_under(directory: Path) -> list[str]:
    prefix = str(directory).rstrip("/") + "/"
    points: list[str] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix) or point == str(directory):
            points.append(point)
    return points


def unmount_all(directory: Path) -> None:
    for _ in range(3):
        points = mounts_under(directory)
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _containers(runc: Path, root: Path) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    if not root.exists():
        return found
    for ns_root in [root, *(p for p in root.iterdir() if p.is_dir())]:
        proc = subprocess.run(
            [str(runc), f"--root={ns_root}", "list", "-q"],
            capture_output=True,
            text=True,
            check=False,
        )
        found += [(ns_root, cid) for cid in proc.stdout.split() if proc.returncode == 0]
    return found


def shim_sockets(node: nodeconfig.NodeLayout) -> list[Path]:
    """The shims' sockets (in /run/containerd/s), read from the task bundles' bootstrap.json."""
    tasks = node.containerd_root / "state" / "io.containerd.runtime.v2.task"
    found: list[Path] = []
    for bootstrap in tasks.glob("*/*/bootstrap.json"):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            address = json.loads(bootstrap.read_text()).get("address", "")
            found.append(Path(address.removeprefix("unix://")))
    return found


def kill_containers(node: nodeconfig.NodeLayout, runc: Path) -> None:
    for ns_root, cid in _containers(runc, node.runc_root):
        subprocess.run(
            [str(runc), f"--root={ns_root}", "delete", "--force", cid],
            capture_output=True,
            check=False,
        )


def kill_by_marker(marker: str, name: str) -> None:
    """SIGKILL every process named ``name`` whose command line contains ``marker``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if name in cmdline and marker in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), 9)


def remove_cgroups(node: nodeconfig.NodeLayout, timeout: float = 15.0) -> None:
    """Kill what is left in the node's cgroups, then remove them deepest first."""
    tops = [root / node.cgroup_root.lstrip("/") for root in hostcheck.cgroup_roots()]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tops = [t for t in tops if t.exists()]
        if not tops:
            return
        for top in tops:
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
                with contextlib.suppress(OSError):
                    for pid in (Path(dirpath) / "cgroup.procs").read_text().split():
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(int(pid), 9)
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
        time.sleep(0.1)


def remove_bridge(node: nodeconfig.NodeLayout) -> None:
    subprocess.run(["ip", "link", "del", node.bridge], capture_output=True, check=False)


def remove_log_links(directory: Path) -> None:
    logs = Path("/var/log/containers")
    if not logs.is_dir():
        return
    for link in logs.iterdir():
        with contextlib.suppress(OSError):
            if link.is_symlink() and os.readlink(link).startswith(str(directory)):
                link.unlink()


OURS = ("KUBE-", "CNI-", realnode.GUARD_CHAIN)
KUBELET_DEVICE_SOCKET = "/var/lib/kubelet/device-plugins/kubelet.sock"
SHIM_SOCKET_DIR = Path("/run/containerd/s")
# Deepest first; each is removed only when empty.
HOST_DIRS = (
    "/var/lib/kubelet/device-plugins",
    "/var/lib/kubelet",
    "/var/lib/cni/results",
    "/var/lib/cni",
    "/run/containerd/s",
    "/run/containerd",
    "/var/log/containers",
)


def _is_ours(text: str) -> bool:
    return any(tag in text for tag in OURS)


def clean_iptables(bins: NodeBinaries) -> None:
    """kube-proxy's own cleanup, then every KUBE-/CNI- rule and chain left (kubelet canaries).

    Only one cluster with real nodes runs per host (the lock in ``realnode``), so
    every such chain in the host network namespace is this cluster's.
    """
    if bins.node.exists():
        subprocess.run(
            [str(bins.node), "kube-proxy", "--cleanup", "--proxy-mode=iptables"],
            capture_output=True,
            check=False,
            env=realnode.node_env(bins),
            timeout=60,
        )
    for tool in ("iptables", "ip6tables"):
        for table in ("mangle", "nat", "filter"):
            listing = subprocess.run(
                [tool, "-w", "-t", table, "-S"], capture_output=True, text=True, check=False
            ).stdout.splitlines()
            chains = [ln.split()[1] for ln in listing if ln.startswith("-N ") and _is_ours(ln)]
            for rule in listing:
                fields = rule.split()
                if fields[0] == "-A" and not fields[1].startswith(OURS) and _is_ours(rule):
                    delete = [tool, "-w", "-t", table, "-D", *fields[1:]]
                    subprocess.run(delete, capture_output=True, check=False)
            for op in ("-F", "-X"):
                for chain in chains:
                    subprocess.run([tool, "-w", "-t", table, op, chain], capture_output=True)


def remove_cni_cache(count: int) -> None:
    """libcni's result cache (/var/lib/cni/results, not configurable in containerd)."""
    results = Path("/var/lib/cni/results")
    if not results.is_dir():
        return
    for entry in list(results.iterdir()):
        for i in range(count):
            prefix = f"tether-n{i}-"
            if entry.name.startswith(prefix):
                sandbox = entry.name.removeprefix(prefix).rsplit("-", 1)[0]
                entry.unlink(missing_ok=True)
                (results / f"cni-loopback-{sandbox}-lo").unlink(missing_ok=True)


def remove_empty_host_dirs() -> None:
    """Fixed host paths the kubelet and containerd create even with their roots moved."""
    Path(KUBELET_DEVICE_SOCKET).unlink(missing_ok=True)
    for d in HOST_DIRS:
        with contextlib.suppress(OSError):
            Path(d).rmdir()


def restore_sysctls(directory: Path) -> None:
    saved_file = directory / "host-sysctls.json"
    if not saved_file.exists():
        return
    for key, value in json.loads(saved_file.read_text()).items():
        with contextlib.suppress(OSError):
            Path("/proc/sys", key).write_text(value + "\n")


def teardown(directory: Path, count: int, components: dict[str, int]) -> None:
    """Stop the real nodes of the cluster in ``directory`` and remove what they made."""
    marker = str(directory)
    bins = NodeBinaries.paths()
    for name in ("coredns", "kube-proxy", *(f"kubelet-{i}" for i in range(count))):
        if name in components:
            processes.stop(components[name], marker)
    nodes = realnode.layouts(directory, count)
    runc = bins.runc
    for node in nodes:
        sockets = shim_sockets(node)
        kill_containers(node, runc)
        kill_by_marker(str(node.socket), "containerd-shim")
        for sock in sockets:
            if sock.parent == SHIM_SOCKET_DIR:
                sock.unlink(missing_ok=True)
        pid = components.get(f"containerd-{node.index}")
        if pid is not None:
            processes.stop(pid, marker)
    unmount_all(directory)
    for node in nodes:
        remove_cgroups(node)
        remove_bridge(node)
    clean_iptables(bins)
    remove_log_links(directory)
    remove_cni_cache(count)
    restore_sysctls(directory)
    realnode.release_host_lock(directory)
    remove_empty_host_dirs()
