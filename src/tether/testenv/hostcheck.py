"""Can this machine run real containers? One reason when it cannot.

Real nodes need root (containerd, runc, bridges and iptables all need it),
cgroups (v1 controllers or a v2 unified mount), overlayfs for image layers,
Debian's runc and CNI plugins, and the ``ip``/``iptables`` tools. Checking up
front turns a kubelet that never becomes Ready into one sentence that says
what is missing, and lets tests skip with that sentence.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tether.testenv import nodebinaries

CGROUP_V1_NEEDED = ("cpu", "cpuacct", "memory", "pids", "devices", "freezer", "cpuset")


def cgroup_v1_mounts() -> dict[str, Path]:
    """Controller name -> mount point of every cgroup v1 hierarchy (named ones too)."""
    found: dict[str, Path] = {}
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] != "cgroup":
            continue
        for opt in fields[3].split(","):
            if opt in CGROUP_V1_NEEDED or opt.startswith("name="):
                found[opt.removeprefix("name=")] = Path(fields[1])
    return found


def cgroup_roots() -> list[Path]:
    """Every mounted cgroup hierarchy (v1 controllers, named v1, and v2 in hybrid setups).

    runc and the kubelet create a Pod's cgroup in each of them, so each gets
    the node's cgroup root and each is cleaned at ``down``.
    """
    roots: list[Path] = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] in ("cgroup", "cgroup2"):
            roots.append(Path(fields[1]))
    return roots


def cgroup_v2() -> bool:
    return Path("/sys/fs/cgroup/cgroup.controllers").exists()


def unsupported_reason() -> str | None:
    """None when real nodes can run here, else why not (one sentence with the fix)."""
    if os.geteuid() != 0:
        return "real nodes need root (containerd, runc, network bridges and iptables)"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlayfs, which containerd needs for image layers"
    if not cgroup_v2():
        missing = [c for c in CGROUP_V1_NEEDED if c not in cgroup_v1_mounts()]
        if missing:
            return f"no cgroup v2 and cgroup v1 controllers not mounted: {', '.join(missing)}"
    for tool in ("ip", "iptables", "iptables-save"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing: {nodebinaries.APT_HINT}"
    debian = [Path(nodebinaries.RUNC)] + [
        Path(nodebinaries.CNI_BIN_DIR) / p for p in nodebinaries.CNI_PLUGINS
    ]
    absent = [str(p) for p in debian if not p.exists()]
    if absent:
        return f"missing {', '.join(absent)}: {nodebinaries.APT_HINT}"
    if not Path("/proc/sys/net/ipv4/ip_forward").exists():
        return "the kernel has no IPv4 forwarding, which the Pod network needs"
    return None


def default_real_nodes() -> int:
    """For ``make demo``: one real node where containers can run, none elsewhere."""
    return 0 if unsupported_reason() else 1
