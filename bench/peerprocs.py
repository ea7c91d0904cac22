"""A peer's controllers as subprocesses on the benchmark's control plane, metered like Tether.

Each peer controller runs as a plain process with the cluster's admin
kubeconfig (as Tether's controller does in ``mttp``), and the same
``ProcessMeter`` samples its RSS and CPU; totals use the kernel's VmHWM. CRDs
are created through the API like any client would, and a scratch directory
can be a dedicated tmpfs whose usage is sampled (the memory a Pod would be
charged for when its ``TMPDIR`` is an in-memory emptyDir).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.harness import Env, ProcessMeter, log, mib

CRDS_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class PeerProcess:
    """One controller binary, its log in the scenario's directory, and a meter on it."""

    def __init__(
        self,
        env: Env,
        name: str,
        cmd: list[str],
        *,
        extra_env: dict[str, str] | None = None,
        health_url: str | None = None,
    ) -> None:
        self.name = name
        self.log_path = env.tmp / f"{name}.log"
        child_env = dict(os.environ, KUBECONFIG=env.state.kubeconfig, **(extra_env or {}))
        self._log = self.log_path.open("ab")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env,
            cwd=str(env.tmp),
        )
        self.meter = ProcessMeter(self.proc.pid)
        self.window_cpu = 0.0
        self._totals: dict[str, Any] | None = None
        if health_url:
            try:
                self._wait_healthy(health_url)
            except BaseException:
                self.stop()
                raise

    def _wait_healthy(self, url: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not healthy at {url} after {timeout:.0f}s")

    def start_window(self) -> None:
        self.meter.start_window()
        self.window_cpu = self.meter.cpu()

    def close_window(self) -> dict[str, float]:
        return {
            "cpu_seconds": round(self.meter.cpu() - self.window_cpu, 2),
            "peak_rss_mib": mib(self.meter.window_peak),
        }

    def log_tail(self, n: int = 30) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def errors(self, limit: int = 10) -> list[str]:
        text = self.log_path.read_text(errors="replace").splitlines()
        return [line[:400] for line in text if '"level":"error"' in line][:limit]

    def stop(self) -> dict[str, Any]:
        """SIGTERM and the process totals; a second call returns the same totals."""
        if self._totals is not None:
            return self._totals
        cpu, hwm = self.meter.cpu(), self.meter.hwm()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.meter.close()
        self._log.close()
        self._totals = {
            "cpu_seconds": round(cpu, 2),
            "peak_rss_mib": mib(hwm),
            "sampled_peak_rss_mib": mib(self.meter.peak_rss),
            "exit_code": self.proc.returncode,
        }
        return self._totals


class ScratchDir:
    """A tmpfs mounted for one controller's TMPDIR (else a directory under /dev/shm), metered."""

    def __init__(self, path: Path, size: str = "4g") -> None:
        self.path = path
        self.kind = "tmpfs"
        self.peak = 0
        path.mkdir(parents=True, exist_ok=True)
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=1777", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if mounted.returncode != 0:
            path.rmdir()
            self.path = Path("/dev/shm") / f"{path.parent.name}-{path.name}"
            self.path.mkdir(parents=True, exist_ok=True)
            self.kind = "/dev/shm"
            log(f"cannot mount a tmpfs ({mounted.stderr.strip()}); TMPDIR under {self.path}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="scratch-meter")
        self._thread.start()

    def used(self) -> int:
        if self.kind == "tmpfs":
            st = os.statvfs(self.path)
            return (st.f_blocks - st.f_bfree) * st.f_frsize
        total = 0
        for root, _, files in os.walk(self.path):
            for f in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(root, f)).st_blocks * 512
        return total

    def _run(self) -> None:
        # A walk of /dev/shm costs the harness CPU; a tmpfs's statvfs is nearly free.
        every = 0.2 if self.kind == "tmpfs" else 2.0
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, self.used())
            self._stop.wait(every)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(5)
        if self.kind == "tmpfs":
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)
        shutil.rmtree(self.path, ignore_errors=True)


def install_crds(env: Env, files: list[Path], timeout: float = 60.0) -> list[str]:
    """Create every CRD in ``files`` and wait until the API server serves them all."""
    names: list[str] = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            resp = env.api.post(CRDS_PATH, json=doc)
            if resp.status_code not in (201, 409):
                raise RuntimeError(f"CRD {path.name}: {resp.status_code} {resp.text[:300]}")
            names.append(doc["metadata"]["name"])
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            resp = env.api.get(f"{CRDS_PATH}/{name}")
            conds = (resp.json().get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in conds):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRD {name} not established after {timeout:.0f}s")
            time.sleep(0.2)
    return names


def create_all(env: Env, path: str, objects: list[dict[str, Any]]) -> None:
    """POST each object (8 at a time, like ``Env.create_apps``); 409 is fine."""
    from concurrent.futures import ThreadPoolExecutor

    def one(obj: dict[str, Any]) -> None:
        resp = env.api.post(path, json=obj)
        if resp.status_code not in (201, 409):
            raise RuntimeError(
                f"create {obj['metadata']['name']}: {resp.status_code} {resp.text[:300]}"
            )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, objects))


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
