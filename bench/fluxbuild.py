"""Flux's source-controller and kustomize-controller, built here from the Go module proxy.

Neither controller installs with ``go install`` (their go.mod files carry
``replace`` directives), so each is built from a wrapper module that requires
it and copies those directives (``bench/peers/flux/sc`` and ``kc``, go.sum
pinned). The binaries and their CRDs land in ``.cache/peers/flux-<version>/``;
Go's build cache lives in ``.cache/go-build`` so that a second build, even
after the binaries are removed, takes seconds. Only ``python -m bench`` with
peers builds them: ``make test`` never does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.harness import log
from tether.testenv import binaries

VERSION = "v1.9.6"
WRAPPERS = Path(__file__).resolve().parent / "peers" / "flux"
CONTROLLERS = {
    "source-controller": ("sc", "github.com/fluxcd/source-controller"),
    "kustomize-controller": ("kc", "github.com/fluxcd/kustomize-controller"),
}


@dataclass(frozen=True)
class FluxBinaries:
    source_controller: Path
    kustomize_controller: Path
    crds: list[Path]


def home(root: Path | None = None) -> Path:
    return (root or binaries.cache_dir()) / "peers" / f"flux-{VERSION}"


def go_env(root: Path | None = None) -> dict[str, str]:
    cache = root or binaries.cache_dir()
    return dict(
        os.environ,
        CGO_ENABLED="0",
        GOFLAGS="-mod=mod",
        GOCACHE=str(cache / "go-build"),
    )


def build(root: Path | None = None) -> FluxBinaries:
    """Both controllers and their CRDs, from the cache when already built."""
    target = home(root)
    target.mkdir(parents=True, exist_ok=True)
    env = go_env(root)
    for name, (wrapper, module) in CONTROLLERS.items():
        out = target / name
        if out.exists():
            continue
        log(f"building {name} {VERSION} (several minutes with a cold Go cache)")
        with tempfile.TemporaryDirectory(prefix="tether-flux-") as tmp:
            src = Path(tmp) / wrapper
            shutil.copytree(WRAPPERS / wrapper, src)
            partial = out.with_suffix(".partial")
            run_go(
                ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(partial), module], src, env
            )
            partial.rename(out)
    crd_dir = target / "crds"
    if not crd_dir.exists() or not any(crd_dir.iterdir()):
        _copy_crds(crd_dir, env)
    return FluxBinaries(
        source_controller=target / "source-controller",
        kustomize_controller=target / "kustomize-controller",
        crds=sorted(crd_dir.glob("*.yaml")),
    )


def _copy_crds(crd_dir: Path, env: dict[str, str]) -> None:
    """The CRDs ship in each controller's module zip (read-only files there)."""
    modcache = Path(run_go(["env", "GOMODCACHE"], WRAPPERS / "sc", env).strip())
    partial = crd_dir.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for _, module in CONTROLLERS.values():
        bases = modcache / f"{module}@{VERSION}" / "config" / "crd" / "bases"
        for crd in sorted(bases.glob("*.yaml")):
            (partial / crd.name).write_bytes(crd.read_bytes())
    shutil.rmtree(crd_dir, ignore_errors=True)
    partial.rename(crd_dir)


def run_go(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    go = shutil.which("go")
    if not go:
        raise RuntimeError("the Go toolchain is needed to build Flux's controllers")
    proc = subprocess.run(
        [go, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
        raise RuntimeError(f"go {' '.join(args[:2])} failed:\n{tail}")
    return proc.stdout
