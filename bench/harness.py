"""What every scenario needs: a cluster, a Git server, the controller as a subprocess, meters.

Nothing here is shared between scenarios: each one builds an ``Env`` (a fresh
local control plane in a temporary directory, ``tether install``, a ``git
daemon`` serving one bare repository) and tears it down at the end. The
controller runs as ``tether controller`` in its own process so that its peak
RSS and CPU seconds are measured by psutil from outside, exactly as an
operator would see them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from tether.engine import webhook
from tether.testenv import cluster as localcluster
from tether.testenv import processes

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TETHER = str(VENV_BIN / "tether")
APP_NS = "tether"
APPS_PATH = f"/apis/tether.dev/v1alpha1/namespaces/{APP_NS}/applications"
WEBHOOK_SECRET = "bench-webhook-secret"
SAMPLE_SECONDS = 0.2


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo), 3)


# -- Git ---------------------------------------------------------------------
class GitServer:
    """A bare repository served by ``git daemon --verbose``; commits go through a clone."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repos = root / "repos"
        self.bare = self.repos / "bench.git"
        self.work = root / "work"
        self.log_path = root / "git-daemon.log"
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        self.env.update(
            HOME=str(home),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_AUTHOR_NAME="Bench",
            GIT_AUTHOR_EMAIL="bench@example.com",
            GIT_COMMITTER_NAME="Bench",
            GIT_COMMITTER_EMAIL="bench@example.com",
            GIT_TERMINAL_PROMPT="0",
        )
        self.repos.mkdir(parents=True, exist_ok=True)
        self._git("init", "--bare", "-q", "-b", "main", str(self.bare), cwd=root)
        self._git("clone", "-q", str(self.bare), str(self.work), cwd=root)
        self._git("checkout", "-q", "-b", "main")
        self.port = free_port()
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                "git",
                "daemon",
                "--export-all",
                "--reuseaddr",
                "--verbose",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                f"--base-path={self.repos}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
        )
        wait_port(self.port)
        self.url = f"git://127.0.0.1:{self.port}/bench.git"

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            ["git", *args], cwd=cwd or self.work, env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def commit(
        self, files: Mapping[str, str | None], message: str, *, force: bool = False
    ) -> tuple[str, float]:
        """Write (None deletes), commit and push; returns (sha, monotonic time the push returned).

        ``force`` pushes over a rewritten history (after :meth:`rewind`).
        """
        for rel, content in files.items():
            target = self.work / rel
            if content is None:
                target.unlink(missing_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        self._git("add", "-A")
        self._git("commit", "-q", "--allow-empty", "-m", message)
        self._git("push", "-q", *(["--force"] if force else []), "origin", "HEAD:refs/heads/main")
        pushed = time.monotonic()
        return self._git("rev-parse", "HEAD"), pushed

    def rewind(self, back: int) -> str:
        """Move the working clone ``back`` commits (not pushed); returns the commit it is now at."""
        old = self._git("rev-parse", f"HEAD~{back}")
        self._git("reset", "-q", "--hard", old)
        return old

    def requests(self) -> int:
        """Fetches and ls-remotes served so far (one ``upload-pack`` each)."""
        self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return 0
        return text.count("Request upload-pack")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


# -- process meters ----------------------------------------------------------
def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


class ProcessMeter:
    """Samples one process every 0.2 s: RSS now, peak RSS (sampled and kernel VmHWM), CPU s."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak_rss = 0
        self.window_peak = 0
        self.last_rss = 0
        self.last_cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"meter-{pid}")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_SECONDS)

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            rss = int(self.proc.memory_info().rss)
            self.last_rss = rss
            self.peak_rss = max(self.peak_rss, rss)
            self.window_peak = max(self.window_peak, rss)
            self.last_cpu = _cpu(self.proc)

    def cpu(self) -> float:
        self.sample()
        return self.last_cpu

    def start_window(self) -> None:
        self.sample()
        self.window_peak = self.last_rss

    def hwm(self) -> int:
        """The kernel's own peak RSS for the process (VmHWM), in bytes."""
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return self.peak_rss

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


def mib(n: float) -> float:
    return round(n / 1048576, 1)


# -- the controller ------------------------------------------------------------
class ControllerProc:
    """``tether controller`` as a subprocess (optionally under the cProfile wrapper)."""

    def __init__(
        self,
        env: Env,
        *,
        poll: float,
        listen: bool = True,
        profile: Path | None = None,
        memory: Path | None = None,
        verbose: bool = False,
        identity: str | None = None,
    ) -> None:
        self.env = env
        self.identity = identity
        self.port = free_port() if listen else 0
        self.log_path = env.tmp / f"controller-{int(time.time() * 1000)}.log"
        # The admin kubeconfig of the local cluster; syncs still impersonate the
        # default project's deployer, so the measured path is the production one.
        args = [
            "controller",
            "--kubeconfig",
            env.state.kubeconfig,
            "--poll",
            str(poll),
            "--allow-cluster-admin",
        ]
        if listen:
            args += ["--listen", f"127.0.0.1:{self.port}"]
        if verbose:
            args.append("-v")
        if identity is not None:  # one replica of several, as the Pod ``identity``
            args += ["--shards", "auto", "--leader-elect"]
        if profile is not None:
            cmd = [
                sys.executable,
                str(Path(__file__).with_name("profiled.py")),
                str(profile),
                *args,
            ]
        elif memory is not None:
            cmd = [sys.executable, str(Path(__file__).with_name("memory.py")), str(memory), *args]
        else:
            cmd = [TETHER, *args]
        self.memory = memory
        self._snapshots = 0
        child_env = dict(os.environ)
        child_env["TETHER_CACHE_DIR"] = str(env.tmp / "controller-cache")
        if identity is not None:
            child_env["POD_NAME"] = identity
            child_env["TETHER_CACHE_DIR"] += f"/{identity}"
        child_env["TETHER_WEBHOOK_SECRET"] = WEBHOOK_SECRET
        child_env["PYTHONPATH"] = str(ROOT)
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
        self.webhook = False
        self.metrics_ok = False
        if listen:
            self._wait_http()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_http(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("controller exited:\n" + self.log_tail())
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            log("controller HTTP surface did not answer /readyz; webhook and metrics unavailable")
            return
        body = json.dumps({"zen": "ping"}).encode()
        with contextlib.suppress(httpx.HTTPError):
            resp = httpx.post(
                self.base + "/api/webhook",
                content=body,
                timeout=5,
                headers={
                    "X-GitHub-Event": "ping",
                    "X-Hub-Signature-256": webhook.sign(WEBHOOK_SECRET, body),
                    "Content-Type": "application/json",
                },
            )
            self.webhook = resp.status_code == 200
        self.metrics_ok = self.metrics() is not None

    def snapshot_memory(self, timeout: float = 300.0) -> None:
        """Under bench/memory.py: have the controller write its next tracemalloc snapshot."""
        if self.memory is None:
            return
        self._snapshots += 1
        done = self.memory / f"done-{self._snapshots}"
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not done.exists() and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.5)

    def push_webhook(self, repo_url: str) -> int:
        """What GitHub would send after a push; returns the number of apps refreshed."""
        body = json.dumps(
            {"ref": "refs/heads/main", "repository": {"clone_url": repo_url}}
        ).encode()
        resp = httpx.post(
            self.base + "/api/webhook",
            content=body,
            timeout=120,  # a busy controller with 10,000 apps may take a while to answer
            headers={
                "X-GitHub-Event": "push",
                "X-Hub-Signature-256": webhook.sign(WEBHOOK_SECRET, body),
                "Content-Type": "application/json",
            },
        )
        resp.raise_for_status()
        return len(resp.json().get("refreshed", []))

    def metrics(self) -> dict[str, float] | None:
        """Tether's own /metrics (counters such as tether_renders), or None."""
        if not self.port:
            return None
        try:
            resp = httpx.get(
                self.base + "/metrics",
                timeout=60,
                headers={"Authorization": f"Bearer {self.env.api_token}"},
            )
        except httpx.HTTPError:
            return None
        if resp.status_code != 200:
            return None
        out: dict[str, float] = {}
        for line in resp.text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
        return out

    def log_tail(self, n: int = 30) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def errors(self) -> list[str]:
        return [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if " ERROR " in line or "Traceback" in line
        ][:20]

    def stop(self) -> dict[str, Any]:
        """SIGTERM (lets the profiler write its file); returns the process totals."""
        cpu = self.meter.cpu()
        hwm = self.meter.hwm()
        asked = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        stop_seconds = round(time.monotonic() - asked, 2)
        log(f"controller stopped {stop_seconds}s after SIGTERM (exit code {self.proc.returncode})")
        self.meter.close()
        self._log.close()
        return {
            "cpu_seconds": round(cpu, 2),
            "peak_rss_mib": mib(hwm),
            "sampled_peak_rss_mib": mib(self.meter.peak_rss),
            "wall_seconds": round(time.monotonic() - self.started, 1),
            "stop_seconds_after_sigterm": stop_seconds,
            "exit_code": self.proc.returncode,
        }


# -- watching the API ------------------------------------------------------------
class Watcher:
    """List + watch one collection in a thread, calling ``handle(type, obj)`` per event."""

    def __init__(
        self,
        env: Env,
        path: str,
        handle: Callable[[str, dict[str, Any]], None],
        params: dict[str, str] | None = None,
    ) -> None:
        self.env = env
        self.path = path
        self.handle = handle
        self.params = params or {}
        self._stop = threading.Event()
        self.synced = threading.Event()
        self._client = env.state.client(timeout=30)
        self._resp: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"watch {path}")
        self._thread.start()
        if not self.synced.wait(30):
            raise RuntimeError(f"could not list {path}")

    def _run(self) -> None:
        client = self._client
        rv = ""
        while not self._stop.is_set():
            try:
                if not rv:
                    resp = client.get(self.path, params=self.params)
                    resp.raise_for_status()
                    data = resp.json()
                    for item in data.get("items", []):
                        self.handle("ADDED", item)
                    rv = data["metadata"]["resourceVersion"]
                    self.synced.set()
                params = dict(
                    self.params,
                    watch="1",
                    resourceVersion=rv,
                    allowWatchBookmarks="true",
                    timeoutSeconds="120",
                )
                with client.stream(
                    "GET", self.path, params=params, timeout=httpx.Timeout(30, read=150)
                ) as resp:
                    self._resp = resp
                    if resp.status_code == 410:
                        rv = ""
                        continue
                    for line in resp.iter_lines():
                        if self._stop.is_set():
                            return
                        if not line:
                            continue
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            if obj.get("code") == 410:
                                rv = ""
                            break
                        rv = obj.get("metadata", {}).get("resourceVersion", rv)
                        if event.get("type") != "BOOKMARK":
                            self.handle(event["type"], obj)
            except Exception as exc:  # keep watching through API hiccups
                if self._stop.is_set():
                    return
                log(f"watch {self.path}: {exc!r}; retrying")
                time.sleep(0.5)
        client.close()

    def close(self) -> None:
        """Stop and drop the connection: an open watch holds kube-apiserver's shutdown back."""
        self._stop.set()
        resp = self._resp
        with contextlib.suppress(Exception):
            sock = resp.extensions["network_stream"].get_extra_info("socket")
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self._client.close()
        self._thread.join(2)


@dataclass
class AppState:
    sync: str = ""
    revision: str = ""
    health: str = ""
    reconciled: bool = False


class AppTracker:
    """Every Application's sync/revision/health, from a watch; waits for a target revision."""

    def __init__(self, env: Env) -> None:
        self.apps: dict[str, AppState] = {}
        self.cond = threading.Condition()
        self.done_at: dict[str, float] = {}
        self.target: str | None = None
        self.watcher = Watcher(env, APPS_PATH, self._handle)

    def _handle(self, event: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        now = time.monotonic()
        with self.cond:
            if event == "DELETED":
                self.apps.pop(name, None)
            else:
                status = obj.get("status") or {}
                self.apps[name] = AppState(
                    sync=(status.get("sync") or {}).get("status", ""),
                    revision=(status.get("sync") or {}).get("revision", ""),
                    health=(status.get("health") or {}).get("status", ""),
                    reconciled=bool(status.get("reconciledAt")),
                )
                if self.target and name not in self.done_at and self._ok(name, self.target):
                    self.done_at[name] = now
            self.cond.notify_all()

    def _ok(self, name: str, sha: str) -> bool:
        st = self.apps.get(name)
        return bool(st and st.revision == sha and st.sync == "Synced" and st.health == "Healthy")

    def expect(self, sha: str) -> None:
        """From now on, record when each app first reaches ``sha`` Synced and Healthy."""
        with self.cond:
            self.target = sha
            self.done_at = {}
            now = time.monotonic()
            for name in self.apps:
                if self._ok(name, sha):
                    self.done_at[name] = now

    def wait(self, names: list[str], timeout: float, stall: float | None = None) -> bool:
        """True when every app is done; False at the timeout, or after ``stall`` s without progress."""
        deadline = time.monotonic() + timeout
        progress, seen = time.monotonic(), -1
        with self.cond:
            while not all(n in self.done_at for n in names):
                now = time.monotonic()
                if len(self.done_at) != seen:
                    progress, seen = now, len(self.done_at)
                if now >= deadline or (stall is not None and now - progress > stall):
                    return False
                self.cond.wait(min(deadline - now, 1.0))
            return True

    def stuck(self, names: list[str], limit: int = 5) -> list[str]:
        with self.cond:
            return [n for n in names if n not in self.done_at][:limit]

    def wait_reconciled(self, names: list[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(self.apps.get(n, AppState()).reconciled for n in names):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 1.0))
            return True

    def wait_revision(self, names: list[str], sha: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(self.apps.get(n, AppState()).revision == sha for n in names):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 1.0))
            return True

    def summary(self) -> dict[str, int]:
        with self.cond:
            return dict(Counter(f"{s.sync}/{s.health}" for s in self.apps.values()))

    def close(self) -> None:
        self.watcher.close()


class FakeIngressController:
    """Publishes an address on every Ingress, as a real ingress controller would.

    Without one, Ingress health is Progressing forever (Argo CD's rule, which
    Tether follows), so no app holding an Ingress could ever be Healthy.
    """

    def __init__(self, env: Env) -> None:
        self.env = env
        self.patched = 0
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._done: set[tuple[str, str]] = set()
        self._workers = [threading.Thread(target=self._work, daemon=True) for _ in range(2)]
        for t in self._workers:
            t.start()
        self.watcher = Watcher(env, "/apis/networking.k8s.io/v1/ingresses", self._handle)

    def _handle(self, event: str, obj: dict[str, Any]) -> None:
        if event == "DELETED":
            return
        meta = obj["metadata"]
        lb = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        ident = (meta["namespace"], meta["name"])
        if not lb and ident not in self._done:
            self._done.add(ident)
            self._queue.put(ident)

    def _work(self) -> None:
        client = self.env.state.client(timeout=30)
        while True:
            item = self._queue.get()
            if item is None:
                return
            ns, name = item
            try:
                client.patch(
                    f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/{name}/status",
                    content=json.dumps(
                        {"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.80"}]}}}
                    ),
                    headers={"Content-Type": "application/merge-patch+json"},
                )
                self.patched += 1
            except httpx.HTTPError as exc:
                log(f"ingress status patch {ns}/{name}: {exc!r}")
                self._done.discard(item)

    def close(self) -> None:
        self.watcher.close()
        for _ in self._workers:
            self._queue.put(None)


# -- the environment -------------------------------------------------------------
class Env:
    """One scenario's world: cluster, Tether installed, Git server, API client."""

    def __init__(self, name: str, nodes: int = 3, apiserver_flags: tuple[str, ...] = ()) -> None:
        self.name = name
        self.tmp = Path(tempfile.mkdtemp(prefix=f"tether-bench-{name}-"))
        self.cluster_dir = self.tmp / "cluster"
        started = time.monotonic()
        self.state = localcluster.up(self.cluster_dir, nodes=nodes, apiserver_flags=apiserver_flags)
        self.cluster_seconds = round(time.monotonic() - started, 1)
        self.api = self.state.client(timeout=60)
        self.git: GitServer | None = None
        self.controllers: list[ControllerProc] = []
        self._closers: list[Callable[[], object]] = []
        self.api_token = secrets.token_hex(16)
        try:
            subprocess.run(
                [TETHER, "install", "--kubeconfig", self.state.kubeconfig],
                check=True,
                capture_output=True,
                timeout=120,
            )
            self._api_token_secret()
            self.git = GitServer(self.tmp / "git")
        except BaseException:
            self.close()
            raise

    def _api_token_secret(self) -> None:
        digest = hashlib.sha256(self.api_token.encode()).hexdigest()
        value = base64.b64encode(f"readonly:{digest}".encode()).decode()
        resp = self.api.post(
            f"/api/v1/namespaces/{APP_NS}/secrets",
            json={
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "tether-api-tokens", "namespace": APP_NS},
                "data": {"bench": value},
            },
        )
        resp.raise_for_status()

    # -- parts ---------------------------------------------------------------
    def controller(self, **kwargs: Any) -> ControllerProc:
        ctl = ControllerProc(self, **kwargs)
        self.controllers.append(ctl)
        return ctl

    def tracker(self) -> AppTracker:
        t = AppTracker(self)
        self._closers.append(t.close)
        return t

    def on_close(self, closer: Callable[[], object]) -> None:
        """Run ``closer`` when the environment closes (before the control plane stops)."""
        self._closers.append(closer)

    def ingress_controller(self) -> FakeIngressController:
        f = FakeIngressController(self)
        self._closers.append(f.close)
        return f

    def create_apps(self, apps: list[dict[str, Any]]) -> None:
        def one(app: dict[str, Any]) -> None:
            # At thousands of apps the API server may shed load (429) or time out: retry.
            for attempt in range(5):
                try:
                    resp = self.api.post(APPS_PATH, json=app)
                except httpx.TransportError:
                    if attempt == 4:
                        raise
                    time.sleep(1.0 + attempt)
                    continue
                if resp.status_code not in (429, 500, 503, 504):
                    break
                time.sleep(1.0 + attempt)
            if resp.status_code not in (201, 409):
                raise RuntimeError(
                    f"create {app['metadata']['name']}: {resp.status_code} {resp.text[:300]}"
                )

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, apps))

    # -- meters ----------------------------------------------------------------
    def control_plane_cpu(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for comp in self.state.components:
            with contextlib.suppress(psutil.Error):
                out[comp.name] = _cpu(psutil.Process(comp.pid))
        return out

    def apiserver_requests(self) -> Counter[tuple[str, str, str]]:
        """apiserver_request_total summed by (verb, group/resource[/subresource], dry_run)."""
        resp = self.api.get("/metrics")
        resp.raise_for_status()
        out: Counter[tuple[str, str, str]] = Counter()
        for line in resp.text.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels_text, _, value = line.rpartition(" ")
            labels = dict(re.findall(r'(\w+)="([^"]*)"', labels_text))
            resource = "/".join(
                p for p in (labels.get("group", ""), labels.get("resource", "")) if p
            )
            if labels.get("subresource"):
                resource += "/" + labels["subresource"]
            out[(labels.get("verb", ""), resource, labels.get("dry_run", ""))] += int(float(value))
        return out

    def close(self) -> None:
        for closer in reversed(self._closers):  # last started, first stopped
            with contextlib.suppress(Exception):
                closer()
        for ctl in self.controllers:
            if ctl.proc.poll() is None:
                with contextlib.suppress(Exception):
                    ctl.stop()
        if self.git is not None:
            self.git.close()
        with contextlib.suppress(Exception):
            self.api.close()
        started = time.monotonic()
        try:
            stopped = []
            for comp in self.state.components:  # stop the clients of kube-apiserver first
                if comp.name in ("kwok", "kube-scheduler", "kube-controller-manager"):
                    t0 = time.monotonic()
                    processes.stop(comp.pid, str(self.cluster_dir.resolve()), timeout=5.0)
                    stopped.append(f"{comp.name} {time.monotonic() - t0:.1f}s")
            t0 = time.monotonic()
            localcluster.down(self.cluster_dir)
            stopped.append(f"rest {time.monotonic() - t0:.1f}s")
            if time.monotonic() - started > 5:
                log(f"slow control-plane stop: {', '.join(stopped)}")
        finally:
            if os.environ.get("TETHER_BENCH_KEEP") != "1":
                shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def environment(name: str, nodes: int = 3, apiserver_flags: tuple[str, ...] = ()) -> Iterator[Env]:
    log(f"{name}: starting a control plane")
    env = Env(name, nodes, apiserver_flags)
    log(
        f"{name}: cluster up in {env.cluster_seconds}s, git daemon at {env.git.url if env.git else '?'}"
    )
    try:
        yield env
    finally:
        env.close()
        log(f"{name}: control plane stopped")


@dataclass
class Window:
    """CPU and request counters over a stretch of wall time."""

    env: Env
    ctl: ControllerProc | None
    started: float = 0.0
    ctl_cpu: float = 0.0
    cp_cpu: dict[str, float] = field(default_factory=dict)
    git_requests: int = 0

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        if self.ctl is not None:
            self.ctl.meter.start_window()
            self.ctl_cpu = self.ctl.meter.cpu()
        self.cp_cpu = self.env.control_plane_cpu()
        self.git_requests = self.env.git.requests() if self.env.git else 0

    def close(self) -> dict[str, Any]:
        wall = time.monotonic() - self.started
        cp = self.env.control_plane_cpu()
        out: dict[str, Any] = {
            "wall_seconds": round(wall, 2),
            "control_plane_cpu_seconds": round(sum(cp.values()) - sum(self.cp_cpu.values()), 2),
            "control_plane_cpu_by_component": {
                k: round(cp.get(k, 0.0) - self.cp_cpu.get(k, 0.0), 2) for k in cp
            },
            "git_requests": (self.env.git.requests() if self.env.git else 0) - self.git_requests,
        }
        if self.ctl is not None:
            out["tether_cpu_seconds"] = round(self.ctl.meter.cpu() - self.ctl_cpu, 2)
            out["tether_peak_rss_mib"] = mib(self.ctl.meter.window_peak)
            out["tether_rss_end_mib"] = mib(self.ctl.meter.last_rss)
        return out
