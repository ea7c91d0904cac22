"""What the soak measures while it runs: the controller process, push->synced, drift->reverted.

``ProcSampler`` reads the controller's own ``/proc`` entries (what an operator's
node exporter would see) and its ``/metrics`` every few seconds. ``SyncLatency``
and ``Reverts`` follow watches of the Applications and of the drifted objects,
so a latency ends when the API server reports the change, not when a poll
happens to look.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chaos.load import Ledger

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def proc_sample(pid: int) -> dict[str, float] | None:
    """RSS (MiB), open fds, threads and CPU seconds of ``pid``; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        statm = Path(f"/proc/{pid}/statm").read_text().split()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    return {
        "rss_mib": int(statm[1]) * PAGE / 1048576,
        "fds": float(fds),
        "threads": float(fields[17]),
        "cpu": (int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
    }


def fd_kinds(pid: int) -> dict[str, int]:
    """Open descriptors of ``pid`` by what they point at (socket, pipe, pack, deleted...)."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.endswith("(deleted)"):
                kind = "deleted file"
            elif ":" in target and not target.startswith("/"):
                kind = target.split(":", 1)[0]
            else:
                kind = Path(target).suffix or "file"
            out[kind] = out.get(kind, 0) + 1
    return dict(sorted(out.items()))


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


class ProcSampler:
    """Every ``every`` seconds: the process sample, asyncio tasks and queue depth from
    ``metrics()``, and the machine's 1-minute load average."""

    def __init__(
        self,
        pid: int,
        metrics: Callable[[], dict[str, float] | None],
        every: float = 10.0,
    ) -> None:
        self.pid = pid
        self.metrics = metrics
        self.every = every
        self.samples: list[dict[str, float]] = []
        self.fds_first: dict[str, int] = {}
        self.fds_last: dict[str, int] = {}
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="soak-sampler")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> None:
        t = time.monotonic() - self.started
        proc = proc_sample(self.pid)
        if proc is None:
            return
        row: dict[str, float] = {"t": round(t, 2), **proc, "load1": load_average()}
        self.fds_last = fd_kinds(self.pid)
        if not self.samples:
            self.fds_first = self.fds_last
        scraped = self.metrics() or {}
        if "tether_asyncio_tasks" in scraped:
            row["tasks"] = scraped["tether_asyncio_tasks"]
        if "tether_queue_depth" in scraped:
            row["queue"] = scraped["tether_queue_depth"]
        if "tether_live_cache_objects" in scraped:
            row["live_objects"] = scraped["tether_live_cache_objects"]
        self.samples.append(row)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(self.every + 15)


class SyncLatency:
    """Push -> Synced per app changed by a commit, from a watch of the Applications.

    The driver tells which apps a pushed commit moved to which generation; an
    app reporting Synced at a revision whose generation for it is at least that
    one ends every push up to it (a later commit may overtake an earlier one).
    """

    def __init__(self, ledger: Ledger, index: Callable[[str], int | None]) -> None:
        self.ledger = ledger
        self.index = index
        self.lock = threading.Lock()
        self.pending: dict[int, list[tuple[int, float]]] = {}
        self.done: list[float] = []

    def pushed(self, at: float, moved: dict[int, int]) -> None:
        with self.lock:
            for i, gen in moved.items():
                self.pending.setdefault(i, []).append((gen, at))

    def handle(self, event: str, obj: dict[str, Any]) -> None:
        if event == "DELETED":
            return
        i = self.index(obj["metadata"]["name"])
        sync = (obj.get("status") or {}).get("sync") or {}
        if i is None or sync.get("status") != "Synced":
            return
        gens = self.ledger.at.get(sync.get("revision", ""))
        if gens is None:
            return
        now = time.monotonic()
        with self.lock:
            waiting = self.pending.get(i)
            if not waiting:
                return
            self.done += [now - at for gen, at in waiting if gen <= gens[i]]
            self.pending[i] = [(gen, at) for gen, at in waiting if gen > gens[i]]

    def missed(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.pending.values())


def _rv(obj: dict[str, Any]) -> int:
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return int(obj["metadata"]["resourceVersion"])
    return 0


class Reverts:
    """Drift -> reverted: the first change after the drift that puts Git's value back.

    Keyed by (kind, namespace): one drifted object per app at a time, a newer
    drift of the same object replaces an older one still open (counted apart).
    resourceVersions are compared as numbers, which the local etcd makes safe.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[tuple[str, str], tuple[int, float, str]] = {}
        self.done: dict[str, list[float]] = {}
        self.superseded = 0

    def drifted(self, kind: str, ns: str, how: str, rv: int, at: float) -> None:
        with self.lock:
            if (kind, ns) in self.open:
                self.superseded += 1
            self.open[(kind, ns)] = (rv, at, how)

    def handle(self, kind: str, event: str, obj: dict[str, Any]) -> None:
        if event == "DELETED":
            return
        ns = obj["metadata"].get("namespace", "")
        if kind == "ConfigMap":
            back = (obj.get("data") or {}).get("gen") != "drifted"
        else:
            back = (obj.get("spec") or {}).get("replicas") == 0
        now = time.monotonic()
        with self.lock:
            pending = self.open.get((kind, ns))
            if pending is None or not back or _rv(obj) <= pending[0]:
                return
            del self.open[(kind, ns)]
            self.done.setdefault(pending[2], []).append(now - pending[1])

    def missed(self) -> int:
        with self.lock:
            return len(self.open)
