"""The world a chaos run acts on: the local control plane, a git daemon, the fault proxy,
and ``tether controller`` as a process that can be killed and started again.

Built on the benchmark harness (``bench.harness.Env``: a fresh cluster in a
temporary directory, ``tether install``, a git daemon serving one bare
repository); what is added here is what faults need: restarting a control
plane component in place, taking the git daemon down and up on the same
port, and a controller that only reaches the API server through the proxy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import cast

import httpx
import psutil
from bench.harness import APP_NS, TETHER, Env, ProcessMeter, log, wait_port

from chaos.disk import CacheDisk
from chaos.gitproxy import GitProxy
from chaos.invariants_registry import DiskWitness, PullSecretGuard
from chaos.proxy import FaultProxy
from chaos.registry import RegistrySide
from tether.controller import leader
from tether.testenv import kubeconfig as kubeconfigs
from tether.testenv import processes

POLL_SECONDS = 2.0


class Controller:
    """``tether controller`` through the fault proxy; ``kill()`` is SIGKILL, ``start()`` again.

    A replica (``identity`` set) runs with ``--shards auto`` as the Pod ``identity``
    (``POD_NAME``) and a cache of its own; replicas share one log file, each line
    written whole, with a marker line for each start and kill.
    """

    def __init__(
        self,
        env: Env,
        kubeconfig: Path,
        poll: float = POLL_SECONDS,
        identity: str | None = None,
    ) -> None:
        self.env = env
        self.kubeconfig = kubeconfig
        self.poll = poll
        self.identity = identity
        self.log_path = env.tmp / "controller.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.meter: ProcessMeter | None = None
        self.starts = 0
        self.kills = 0

    def start(self) -> None:
        child_env = dict(os.environ)
        child_env["TETHER_CACHE_DIR"] = str(self.env.tmp / "controller-cache")
        sharded: list[str] = []
        if self.identity is not None:
            child_env["POD_NAME"] = self.identity
            child_env["TETHER_CACHE_DIR"] += f"/{self.identity}"
            sharded = ["--shards", "auto", "--leader-elect"]
        with self.log_path.open("ab") as out:
            out.write(f"{self._marker('start')} {self.starts + 1}\n".encode())
            self.proc = subprocess.Popen(
                [
                    TETHER,
                    "controller",
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "--poll",
                    str(self.poll),
                    "--allow-cluster-admin",
                    *sharded,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=str(self.env.tmp),
                env=child_env,
            )
        self.meter = ProcessMeter(self.proc.pid)
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like an OOM kill or a node loss."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        if self.meter is not None:
            self.meter.close()
        self.kills += 1
        with self.log_path.open("ab") as out:
            out.write(f"{self._marker('kill')}\n".encode())

    def _marker(self, what: str) -> str:
        """``---- start|kill <identity> at <epoch>`` (after a newline: a killed replica may
        have left half a line)."""
        return f"\n---- {what} {self.identity or 'controller'} at {time.time():.3f}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.meter is not None:
            self.meter.close()

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def last_line(self) -> str:
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else "(no output)"

    def errors(self, limit: int = 20) -> list[str]:
        """Tracebacks and ERROR lines of every run (a crash is a finding)."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [ln for ln in lines if " ERROR " in ln or "Traceback" in ln][:limit]


class Fleet:
    """Several replicas (``--shards auto``) acting as one controller for the other faults:
    ``kill`` kills them all, ``start`` starts the ones not running."""

    def __init__(self, replicas: list[Controller]) -> None:
        self.replicas = replicas
        self.log_path = replicas[0].log_path
        self._pods = len(replicas)

    @property
    def starts(self) -> int:
        return sum(r.starts for r in self.replicas)

    @property
    def kills(self) -> int:
        return sum(r.kills for r in self.replicas)

    def start(self) -> None:
        for r in self.replicas:
            if not r.alive():
                r.start()

    def kill(self) -> None:
        for r in self.replicas:
            if r.alive():
                r.kill()

    def alive(self) -> bool:
        return all(r.alive() for r in self.replicas)

    def stop(self) -> None:
        for r in self.replicas:
            r.stop()

    def replace(self, replica: Controller) -> str:
        """A new Pod in place of ``replica`` (a Deployment's new name): its Lease must expire."""
        self._pods += 1
        replica.identity = f"tether-controller-{self._pods - 1}"
        return replica.identity

    def log_size(self) -> int:
        return self.replicas[0].log_size()

    def log_since(self, offset: int) -> str:
        return self.replicas[0].log_since(offset)

    def last_line(self) -> str:
        return self.replicas[0].last_line()

    def errors(self, limit: int = 20) -> list[str]:
        return self.replicas[0].errors(limit)


class World:
    """Everything a scenario needs, torn down by ``close``."""

    def __init__(self, env: Env, replicas: int = 1) -> None:
        self.env = env
        assert env.git is not None
        self.git = env.git
        # Apps name the Git proxy from the start: git-slow and git-errors act on it.
        self.git_proxy = GitProxy(self.git.port)
        self.git.url = self.git_proxy.url("bench.git")
        self.proxy = FaultProxy(env.tmp, env.state.server, env.state.ca_file)
        kubeconfig = env.tmp / "controller.kubeconfig"
        kubeconfigs.write(
            kubeconfig, server=self.proxy.url, ca_file=str(self.proxy.cert), token=env.state.token
        )
        self.controller: Controller | Fleet = (
            Controller(env, kubeconfig)
            if replicas == 1
            else Fleet(
                [
                    Controller(env, kubeconfig, identity=f"tether-controller-{i}")
                    for i in range(replicas)
                ]
            )
        )
        # Before the controller starts: its cache lives on a disk of its own.
        self.disk = CacheDisk(env.tmp / "controller-cache")
        self.registry: RegistrySide | None = None
        self.guard: PullSecretGuard | None = None
        self.witness: DiskWitness | None = None

    # -- the registry, the ECR API and the cache disk ---------------------------------
    def start_registry(self, apps: int) -> RegistrySide:
        """A registry, moto's ECR and two RegistryCredentials, watched from now on."""
        self.registry = RegistrySide(self.env)
        self.registry.setup(apps)
        self.guard = PullSecretGuard(self.env, self.registry)
        return self.registry

    def watch_disk(self) -> DiskWitness:
        self.witness = DiskWitness(self.env)
        return self.witness

    def leader_name(self) -> str | None:
        """The holder of the leader Lease (the replica running the singletons)."""
        got = self.env.api.get(
            f"/apis/coordination.k8s.io/v1/namespaces/{APP_NS}/leases/{leader.LEASE_NAME}"
        )
        if got.status_code != 200:
            return None
        return cast(str | None, (got.json().get("spec") or {}).get("holderIdentity"))

    # -- the control plane -------------------------------------------------------
    def restart_component(self, name: str, down_seconds: float = 2.0) -> None:
        """Stop a control plane process (SIGTERM, then SIGKILL) and start it with the same
        command line, as a process supervisor would; waits until it serves again."""
        state = self.env.state
        comp = next(c for c in state.components if c.name == name)
        cmdline = Path(f"/proc/{comp.pid}/cmdline").read_bytes().split(b"\0")
        cmd = [part.decode() for part in cmdline if part]
        marker = str(Path(state.directory).resolve())
        if not processes.stop(comp.pid, marker):
            raise RuntimeError(f"could not stop {name}")
        time.sleep(down_seconds)
        comp.pid = processes.start(cmd, Path(comp.log), Path(state.directory))
        state.save()
        self.wait_api()
        log(f"{name} restarted (pid {comp.pid})")

    def wait_api(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        with self.env.state.client(timeout=5) as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/readyz").status_code == 200:
                        return
                time.sleep(0.2)
        raise RuntimeError("kube-apiserver did not become ready")

    # -- Git -----------------------------------------------------------------------
    def git_down(self) -> None:
        """Stop the git daemon (and the children serving fetches in flight)."""
        proc = self.git.proc
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
        proc.kill()
        proc.wait(5)

    def git_up(self) -> None:
        """The same daemon again on the same port."""
        args = [str(a) for a in cast(list[str], self.git.proc.args)]  # as it was started
        log_file = self.git.log_path.open("ab")
        self.git.proc = subprocess.Popen(
            args,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.git.env,
        )
        wait_port(self.git.port)

    def close(self) -> None:
        self.controller.stop()
        self.proxy.close()
        self.git_proxy.close()
        for part in (self.guard, self.witness, self.registry, self.disk):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close()
