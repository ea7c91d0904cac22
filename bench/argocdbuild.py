"""Argo CD's ``argocd`` binary (application controller, repo server), from the Go module proxy.

One multi-call binary that picks its component from its own name, so the
build leaves two symlinks beside it. Argo CD v3.6 needs Go 1.27, which
``GOTOOLCHAIN`` fetches from the module proxy. The wrapper module is
``bench/peers/argocd`` (upstream's replace block copied, go.sum pinned; the
gitops-engine sub-module is required at its published version because
upstream's relative replace is not in the module zip). Everything lands in
``.cache/peers/argocd-<version>/``, Go's build cache in ``.cache/go-build``.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import fluxbuild
from bench.harness import log
from tether.testenv import binaries

VERSION = "v3.6.1"
TOOLCHAIN = "go1.27.3"
WRAPPER = Path(__file__).resolve().parent / "peers" / "argocd"
MODULE = "github.com/argoproj/argo-cd/v3"
CRD_NAMES = ("application-crd.yaml", "appproject-crd.yaml", "applicationset-crd.yaml")


@dataclass(frozen=True)
class ArgoCDBinaries:
    application_controller: Path
    repo_server: Path
    crds: list[Path]
    # the repo server runs hack/git-verify-wrapper.sh from PATH for every revision (GPG
    # off or not) and fails manifest generation with "permission denied" without it;
    # Argo CD's image installs it in /usr/local/bin
    helpers: Path


def build(root: Path | None = None) -> ArgoCDBinaries:
    target = (root or binaries.cache_dir()) / "peers" / f"argocd-{VERSION}"
    target.mkdir(parents=True, exist_ok=True)
    env = fluxbuild.go_env(root) | {"GOTOOLCHAIN": TOOLCHAIN}
    out = target / "argocd"
    if not out.exists():
        log(f"building argocd {VERSION} (several minutes with a cold Go cache)")
        pkg = f"{MODULE}/common"
        ldflags = (
            f"-s -w -X {pkg}.version={VERSION.lstrip('v')} -X {pkg}.gitTag={VERSION} "
            f"-X {pkg}.gitTreeState=clean -X {pkg}.kubectlVersion=v0.37.0"
        )
        with tempfile.TemporaryDirectory(prefix="tether-argocd-") as tmp:
            src = Path(tmp) / "wrapper"
            shutil.copytree(WRAPPER, src)
            partial = out.with_suffix(".partial")
            fluxbuild.run_go(
                ["build", "-trimpath", "-ldflags", ldflags, "-o", str(partial), f"{MODULE}/cmd"],
                src,
                env,
            )
            partial.rename(out)
    for name in ("argocd-application-controller", "argocd-repo-server"):
        link = target / name
        if not link.exists():
            link.symlink_to("argocd")
    crd_dir = target / "crds"
    if not all((crd_dir / n).exists() for n in CRD_NAMES):
        modcache = Path(fluxbuild.run_go(["env", "GOMODCACHE"], WRAPPER, env).strip())
        crd_dir.mkdir(exist_ok=True)
        for name in CRD_NAMES:
            src_crd = modcache / f"{MODULE}@{VERSION}" / "manifests" / "crds" / name
            (crd_dir / name).write_bytes(src_crd.read_bytes())
    helpers = target / "bin"
    wrapper = helpers / "git-verify-wrapper.sh"
    if not wrapper.exists():
        modcache = Path(fluxbuild.run_go(["env", "GOMODCACHE"], WRAPPER, env).strip())
        helpers.mkdir(exist_ok=True)
        src_script = modcache / f"{MODULE}@{VERSION}" / "hack" / "git-verify-wrapper.sh"
        wrapper.write_bytes(src_script.read_bytes())
        wrapper.chmod(0o755)
    return ArgoCDBinaries(
        application_controller=target / "argocd-application-controller",
        repo_server=target / "argocd-repo-server",
        crds=[crd_dir / n for n in CRD_NAMES],
        helpers=helpers,
    )
