"""Shared steps of the image builds: running a tool, building a Go binary, pip.

Each step names itself in its error, with the tail of the tool's output, so a
failed build says which step failed and why without a rerun.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tether.testenv import binaries

RECIPE_VERSION = 1
# Reproducible: no paths, no VCS stamp (the checkout changes under us), no build id.
GO_BUILD_FLAGS = ("-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid=")


class ImageBuildError(RuntimeError):
    """A step of an image build failed; the message names the step and its output."""


def repo_root() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").exists() and (parent / "examples").is_dir():
            return parent
    raise ImageBuildError("images are built from a checkout of the tether repository")


def run(
    step: str,
    cmd: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
) -> str:
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ImageBuildError(f"{step}: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
        raise ImageBuildError(f"{step} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def go_build(step: str, source: Path, output: Path) -> None:
    """A static binary from a dependency-free Go module; never touches the network."""
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod", GOPROXY="off", GOTOOLCHAIN="local")
    run(
        step,
        [
            binaries._go(),
            "build",
            *GO_BUILD_FLAGS,
            "-o",
            str(output),
            ".",
        ],
        cwd=source,
        env=env,
    )


def go_version() -> str:
    return run("go version", [binaries._go(), "env", "GOVERSION"]).strip()


def pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
