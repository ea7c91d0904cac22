"""Helpers of the image tests: skopeo with explicit auth files, runc bundles, a containerd.

Every tool is the real one a cluster uses, and every login is passed in an
auth file the test writes, so no ambient credential can make a pull succeed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tether.testenv import nodebinaries


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, timeout=300, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"skopeo {args[0]} failed: {proc.stderr}")
    return proc


def authfile(tmp_path: Path, registry: str, user: str | None, password: str) -> Path:
    """An auth file with one login (or none): skopeo sees only what the test gives it."""
    path = tmp_path / f"auth-{uuid.uuid4().hex[:8]}.json"
    auths: dict[str, Any] = {}
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        auths[registry] = {"auth": token}
    path.write_text(json.dumps({"auths": auths}))
    return path


def pull(reference: str, auth: Path, target: Path, tag: str) -> subprocess.CompletedProcess[str]:
    return skopeo(
        "copy", "--quiet", "--src-tls-verify=false", f"--src-authfile={auth}",
        f"docker://{reference}", f"oci:{target}:{tag}", check=False,
    )  # fmt: skip


def container_reason() -> str | None:
    if os.geteuid() != 0:
        return "running a container with runc needs root"
    missing = [tool for tool in ("runc", "umoci") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} missing: apt-get install runc umoci"
    return None


def bundle(layout: Path, tag: str, target: Path, env: dict[str, str]) -> Path:
    """umoci's runtime bundle of the image, sharing the host network (no CNI here)."""
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:{tag}", str(target)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    path = target / "config.json"
    spec = json.loads(path.read_text())
    process = spec["process"]
    process["terminal"] = False
    keep = [e for e in process["env"] if e.split("=", 1)[0] not in env]
    process["env"] = keep + [f"{k}={v}" for k, v in env.items()]
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "network"]
    path.write_text(json.dumps(spec))
    return target


@contextlib.contextmanager
def running(bundle_dir: Path, state: Path) -> Iterator[str]:
    """Run the bundle detached under its own runc root; kill and delete it afterwards."""
    cid = f"tether-img-{uuid.uuid4().hex[:8]}"
    log = bundle_dir.parent / f"{cid}.log"
    runc = ["runc", "--root", str(state)]
    with open(log, "wb") as out:
        subprocess.run(
            [*runc, "run", "--detach", "--bundle", str(bundle_dir), cid],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL, check=True, timeout=60,
        )  # fmt: skip
    try:
        yield cid
    finally:
        subprocess.run([*runc, "kill", cid, "KILL"], capture_output=True, check=False)
        subprocess.run([*runc, "delete", "--force", cid], capture_output=True, check=False)


def get_json(url: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.get(url, timeout=2)
            response.raise_for_status()
            return dict(response.json())
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class Containerd:
    """A private containerd 2 (CRI off) on a socket of its own; ``ctr(...)`` talks to it."""

    def __init__(self, bins: nodebinaries.NodeBinaries, directory: Path) -> None:
        self.bins = bins
        self.dir = directory
        self.socket = directory / "containerd.sock"
        self.env = dict(os.environ, PATH=f"{bins.containerd_dir}:/usr/sbin:/usr/bin:/sbin:/bin")
        config = directory / "config.toml"
        config.write_text(
            "version = 3\n"
            f'root = "{directory}/root"\nstate = "{directory}/state"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images",'
            ' "io.containerd.cri.v1.runtime"]\n'
            f'[grpc]\n  address = "{self.socket}"\n'
            f'[ttrpc]\n  address = "{self.socket}.ttrpc"\n'
        )
        self.log = open(directory / "containerd.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [str(bins.containerd), f"--config={config}"],
            stdout=self.log, stderr=self.log, env=self.env,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while self.ctr("version", check=False).returncode != 0:
            assert self.proc.poll() is None, (directory / "containerd.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "containerd did not answer"
            time.sleep(0.2)

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.bins.ctr), f"--address={self.socket}", "--namespace=tether-test", *args],
            capture_output=True, text=True, env=self.env, timeout=120, check=False,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)}: {proc.stderr[-2000:]}")
        return proc

    def remove(self, cid: str) -> None:
        self.ctr("tasks", "kill", "--signal", "SIGKILL", cid, check=False)
        deadline = time.monotonic() + 10
        while self.ctr("tasks", "delete", cid, check=False).returncode != 0:
            if time.monotonic() > deadline or cid not in self.ctr("tasks", "ls").stdout:
                break
            time.sleep(0.2)
        self.ctr("containers", "delete", cid, check=False)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in reversed([m for m in mounts if m.startswith(str(self.dir))]):
            subprocess.run(["umount", mount], capture_output=True, check=False)
