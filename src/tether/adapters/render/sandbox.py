"""Running kustomize and helm with no network, bounded time and bounded output.

A repository writer controls everything a renderer reads. kustomize fetches
any URL it finds in a file-reference field and helm can pull charts, so a
render could read a cloud metadata endpoint into a ConfigMap and show it in
the diff. The static reference check (``kustomize_refs``) refuses such
references; this module is the second wall: every tool runs in a fresh
network namespace holding nothing but loopback (``unshare --net`` as root, or
inside an unprivileged user namespace where the kernel allows one). Which of
the two works is probed once per process. When neither works the render fails
closed, unless ``TETHER_RENDER_ALLOW_NETWORK=1`` says, in so many words, that
renderers may use the controller's network.

Output is read with a cap (``limits.MAX_RENDERED_BYTES``) and the tool's
process group is killed past it or past its timeout.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tether.adapters.render import limits
from tether.adapters.render.errors import RenderError

ALLOW_NETWORK_ENV = "TETHER_RENDER_ALLOW_NETWORK"
PROBE_TIMEOUT_SECONDS = 10
STDERR_KEEP_BYTES = 64 * 1024
_CHUNK = 64 * 1024

_probe_lock = threading.Lock()
_probed: list[list[str] | None] = []


@dataclass(frozen=True)
class ToolResult:
    returncode: int
    stdout: str
    stderr: str


def _works(prefix: list[str]) -> bool:
    true = shutil.which("true") or "/bin/true"
    try:
        done = subprocess.run(
            [*prefix, true], capture_output=True, timeout=PROBE_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def isolation_prefix() -> list[str] | None:
    """The command prefix that gives a tool a network namespace of its own, or None."""
    with _probe_lock:
        if not _probed:
            unshare = shutil.which("unshare")
            found: list[str] | None = None
            if unshare:
                candidates = [[unshare, "--user", "--map-root-user", "--net", "--"]]
                if os.geteuid() == 0:
                    candidates.insert(0, [unshare, "--net", "--"])
                found = next((c for c in candidates if _works(c)), None)
            _probed.append(found)
        return _probed[0]


def network_allowed() -> bool:
    return os.environ.get(ALLOW_NETWORK_ENV, "").strip().lower() in ("1", "true", "yes")


def offline(command: list[str], *, allow_network: bool = False) -> list[str]:
    """``command`` wrapped so that it has no network; RenderError when that is impossible."""
    if allow_network or network_allowed():
        return command
    prefix = isolation_prefix()
    if prefix is None:
        raise RenderError(
            "renderers run without network, but no network namespace can be created here "
            "(unshare --net as root and in a user namespace both failed); "
            f"set {ALLOW_NETWORK_ENV}=1 to let kustomize and helm use the controller's network"
        )
    return [*prefix, *command]


def _drain(stream: IO[bytes], sink: bytearray, cap: int, over: threading.Event) -> None:
    """Read ``stream`` to its end, keeping at most ``cap`` bytes; ``over`` when it had more."""
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return
        if len(sink) + len(chunk) > cap:
            over.set()
            continue
        sink.extend(chunk)


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def run_tool(
    command: list[str],
    *,
    name: str,
    where: str | None,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
    allow_network: bool = False,
    max_output: int | None = None,
) -> ToolResult:
    """Run ``command`` offline; RenderError on timeout or output over ``max_output``."""
    max_output = limits.MAX_RENDERED_BYTES if max_output is None else max_output
    process = subprocess.Popen(
        offline(command, allow_network=allow_network),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
    )
    assert process.stdout is not None and process.stderr is not None
    out, err = bytearray(), bytearray()
    over, err_over = threading.Event(), threading.Event()
    readers = [
        threading.Thread(target=_drain, args=(process.stdout, out, max_output, over), daemon=True),
        threading.Thread(
            target=_drain, args=(process.stderr, err, STDERR_KEEP_BYTES, err_over), daemon=True
        ),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    deadline = time.monotonic() + timeout
    try:
        while readers[0].is_alive() and not over.is_set() and time.monotonic() < deadline:
            readers[0].join(0.05)
        if over.is_set():
            _kill(process)
        process.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(process)
        process.wait()
    finally:
        if process.poll() is None:
            _kill(process)
            process.wait()
        for reader in readers:
            reader.join(5)
        process.stdout.close()
        process.stderr.close()
    if over.is_set():
        limits.check_rendered_size(max_output + 1, where or name, max_output)
    if timed_out or readers[0].is_alive():
        raise RenderError(f"{name} timed out after {timeout:g}s", where)
    return ToolResult(
        process.returncode,
        out.decode("utf-8", errors="replace"),
        err.decode("utf-8", errors="replace"),
    )
