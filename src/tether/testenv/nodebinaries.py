"""Where a real node's programs come from, and building them.

A real node runs a kubelet and kube-proxy built from the same Kubernetes
module as the control plane (the ``node/`` package of ``gobuild/``, one
multi-call binary), containerd 2 (Kubernetes 1.36 needs containerd 2, Debian
ships 1.6) with its runc shim and ``ctr``, CoreDNS for cluster DNS, and a
static pause binary for Pod sandboxes: all built from the Go module proxy into
the cache, keyed by version, like the control plane. runc and the CNI plugins
(bridge, host-local, loopback) come from Debian (``scripts/system-packages.sh``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tether.testenv import binaries
from tether.testenv.binaries import BinariesMissing, cache_dir

CONTAINERD_VERSION = "v2.3.7"
COREDNS_VERSION = "v1.14.7"
PAUSE_VERSION = "3.10-tether1"
RUNC = "/usr/sbin/runc"
CNI_BIN_DIR = "/usr/lib/cni"
CNI_PLUGINS = ("bridge", "host-local", "loopback")
CONTAINERD_TOOLS = ("containerd", "ctr", "containerd-shim-runc-v2")
APT_HINT = "apt-get install -y runc containernetworking-plugins iptables conntrack busybox-static"


def _testenv(root: Path | None) -> Path:
    return (root or cache_dir()) / "testenv"


@dataclass(frozen=True)
class NodeBinaries:
    node: Path
    containerd_dir: Path
    coredns: Path
    pause: Path
    runc: Path
    cni_bin_dir: Path

    @property
    def containerd(self) -> Path:
        return self.containerd_dir / "containerd"

    @property
    def ctr(self) -> Path:
        return self.containerd_dir / "ctr"

    @classmethod
    def paths(cls, root: Path | None = None) -> NodeBinaries:
        base = _testenv(root)
        return cls(
            node=base / f"node-k8s-{binaries.K8S_VERSION}" / "tether-node",
            containerd_dir=base / f"containerd-{CONTAINERD_VERSION}",
            coredns=base / f"coredns-{COREDNS_VERSION}" / "coredns",
            pause=base / f"pause-{PAUSE_VERSION}" / "pause",
            runc=Path(RUNC),
            cni_bin_dir=Path(CNI_BIN_DIR),
        )

    @classmethod
    def locate(cls, root: Path | None = None) -> NodeBinaries:
        found = cls.paths(root)
        built = [found.node, found.coredns, found.pause] + [
            found.containerd_dir / t for t in CONTAINERD_TOOLS
        ]
        missing = [str(p) for p in built if not p.exists()]
        if missing:
            raise BinariesMissing(
                f"real-node binaries are not built yet (missing {', '.join(missing)}); "
                "build them with `tether cluster build --real-nodes` (about 10 minutes cold)"
            )
        debian = [found.runc] + [found.cni_bin_dir / p for p in CNI_PLUGINS]
        absent = [str(p) for p in debian if not p.exists()]
        if absent:
            raise BinariesMissing(f"missing {', '.join(absent)}: {APT_HINT}")
        return found


def build_node(root: Path | None = None, *, log: bool = True) -> Path:
    """kubelet and kube-proxy, from the gobuild module's ``node`` package."""
    target = NodeBinaries.paths(root).node
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tether-gobuild-node-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(binaries.GOBUILD_DIR, src)
        env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod")
        out = target.with_suffix(".partial")
        cmd = ["build", "-trimpath", "-ldflags", binaries._ldflags(), "-o", str(out), "./node"]
        binaries._run([binaries._go(), *cmd], cwd=src, env=env, log=log)
        out.rename(target)
    return target


def build_containerd(root: Path | None = None, *, log: bool = True) -> Path:
    """containerd 2, ctr and the runc v2 shim, with ``go install`` at a pinned version."""
    bindir = NodeBinaries.paths(root).containerd_dir
    if all((bindir / t).exists() for t in CONTAINERD_TOOLS):
        return bindir
    bindir.mkdir(parents=True, exist_ok=True)
    mod = "github.com/containerd/containerd/v2"
    ldflags = f"-s -w -X {mod}/version.Version={CONTAINERD_VERSION}"
    with tempfile.TemporaryDirectory(prefix="tether-containerd-") as tmp:
        env = dict(os.environ, CGO_ENABLED="0", GOBIN=tmp, GOFLAGS="")
        binaries._run(
            [
                binaries._go(),
                "install",
                "-trimpath",
                "-tags",
                "no_btrfs no_devmapper no_zfs",
                "-ldflags",
                ldflags,
                *(f"{mod}/cmd/{t}@{CONTAINERD_VERSION}" for t in CONTAINERD_TOOLS),
            ],
            cwd=Path(tmp),
            env=env,
            log=log,
        )
        for tool in CONTAINERD_TOOLS:
            shutil.move(Path(tmp) / tool, bindir / tool)
    return bindir


def build_coredns(root: Path | None = None, *, log: bool = True) -> Path:
    target = NodeBinaries.paths(root).coredns
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tether-coredns-") as tmp:
        env = dict(os.environ, CGO_ENABLED="0", GOBIN=tmp, GOFLAGS="")
        binaries._run(
            [
                binaries._go(),
                "install",
                "-trimpath",
                "-ldflags",
                "-s -w",
                f"github.com/coredns/coredns@{COREDNS_VERSION}",
            ],
            cwd=Path(tmp),
            env=env,
            log=log,
        )
        shutil.move(Path(tmp) / "coredns", target)
    return target


def build_pause(root: Path | None = None, *, log: bool = True) -> Path:
    """The static pause binary from ``gobuild/pause`` (its own module, no dependencies)."""
    target = NodeBinaries.paths(root).pause
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tether-pause-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(binaries.GOBUILD_DIR / "pause", src)
        out = target.with_suffix(".partial")
        env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="")
        cmd = ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(out), "."]
        binaries._run([binaries._go(), *cmd], cwd=src, env=env, log=log)
        out.rename(target)
    return target


def build_all(root: Path | None = None, *, log: bool = True) -> NodeBinaries:
    build_pause(root, log=log)
    build_containerd(root, log=log)
    build_node(root, log=log)
    build_coredns(root, log=log)
    return NodeBinaries.locate(root)
