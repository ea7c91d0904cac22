"""One cluster with real nodes per host, and who holds it.

Real nodes live in the host network namespace: iptables, the Pod subnets,
the bridges and CoreDNS's address would clash between two clusters. The
lock file names the cluster directory that holds the host, the process that
is starting it (pid and start time, so a reused pid never counts) and the
node processes once they run. It is held while the starting process or any
recorded node process is alive; a lock whose processes are all gone is
stale and taken over. Reads and writes happen under ``flock`` on a side file,
so two ``up`` commands racing each other cannot both win.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tether.testenv import processes

LOCK_FILE = Path("/run/tether/real-nodes.json")


class HostHeld(RuntimeError):
    """Another live cluster with real nodes holds this host."""


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE.with_suffix(".flock"), "w") as side:
        fcntl.flock(side, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(side, fcntl.LOCK_UN)


def _read() -> dict[str, Any]:
    try:
        data = json.loads(LOCK_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive(held: dict[str, Any]) -> bool:
    directory = str(held.get("directory", ""))
    owner = held.get("owner")
    if isinstance(owner, int) and _start_time(owner) == held.get("owner_start"):
        return True
    return any(processes.is_running(int(p), directory) for p in held.get("pids", []))


def holder(exclude: Path | None = None) -> str | None:
    """The directory of the live cluster holding the host (other than ``exclude``), if any."""
    held = _read()
    directory = str(held.get("directory", ""))
    if not directory or (exclude is not None and directory == str(exclude)):
        return None
    return directory if _alive(held) else None


def take(cluster_dir: Path) -> Path | None:
    """Hold the host for ``cluster_dir``, or raise ``HostHeld`` naming the holder.

    Returns the directory of a dead holder whose lock was taken over: what it
    left on the host (node processes, mounts, iptables rules) is still there.
    """
    with _guard():
        other = holder(exclude=cluster_dir)
        if other:
            raise HostHeld(
                f"another cluster with real nodes is running from {other}; real nodes share "
                f"the host's iptables and Pod network, so stop it first with "
                f"`tether cluster down --dir {other}`"
            )
        dead = str(_read().get("directory", ""))
        pid = os.getpid()
        record = {"directory": str(cluster_dir), "owner": pid, "owner_start": _start_time(pid)}
        LOCK_FILE.write_text(json.dumps({**record, "pids": []}))
    return Path(dead) if dead and dead != str(cluster_dir) else None


def record_pid(cluster_dir: Path, pid: int) -> None:
    """A node process of the holder: the host stays held while it runs."""
    with _guard():
        held = _read()
        if held.get("directory") == str(cluster_dir):
            held["pids"] = [*held.get("pids", []), pid]
            LOCK_FILE.write_text(json.dumps(held))


def started(cluster_dir: Path) -> None:
    """``up`` is done: from now on only the node processes hold the host."""
    with _guard():
        held = _read()
        if held.get("directory") == str(cluster_dir):
            held.pop("owner", None)
            held.pop("owner_start", None)
            LOCK_FILE.write_text(json.dumps(held))


def release(cluster_dir: Path) -> None:
    """Give the host back (the empty ``.flock`` side file stays: others may be waiting on it)."""
    with _guard():
        if _read().get("directory") == str(cluster_dir):
            LOCK_FILE.unlink(missing_ok=True)
