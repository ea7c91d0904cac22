"""Run ``tether <args>`` under tracemalloc and say where its memory goes.

    python bench/memory.py OUT_DIR controller --kubeconfig K --listen ...

``SIGUSR1`` writes ``OUT_DIR/snapshot-<i>.pickle`` (every live allocation with
its traceback) and ``OUT_DIR/retained-<i>.json`` (what the controller's own
stores hold, measured by walking them: allocation sites say where memory was
made, not who keeps it, and the two differ for API responses). The bench
signals after each mttp phase, when every app has been synced and its
objects are held; :func:`summarise` turns the files into the report's tables.

Tracing costs time and memory of its own, so runs under it are not in the
timing tables; the RSS figures of the report come from untraced runs. The
imports are not traced (tracing them takes minutes on 2 busy cores): what
they hold is the idle RSS, which the bench measures. On a machine too busy
for a traced controller to keep up, ``TETHER_BENCH_TRACE_FRAMES=0`` keeps
only the walk of the stores.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FRAMES = 16

# The concept an allocation belongs to, from the Tether module that asked for it
# (the innermost Tether frame other than the Kubernetes client, which only decodes
# what its callers keep). Order matters: the first match wins.
CONCEPTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("live cache", ("tether/controller/live_cache.py", "tether/controller/clusters.py")),
    (
        "rendered manifests",
        (
            "tether/controller/sources/step.py",
            "tether/controller/multi_source.py",
            "tether/controller/charts.py",
            "tether/adapters/render/",
            "tether/adapters/charts/",
        ),
    ),
    ("Git objects", ("tether/adapters/git/",)),
    ("dry-run cache and diffs", ("tether/controller/compare.py", "tether/engine/diff")),
    (
        "status/history and reconcile state",
        (
            "tether/controller/reconciler.py",
            "tether/controller/status.py",
            "tether/controller/operation.py",
            "tether/controller/sync",
            "tether/controller/passes.py",
            "tether/controller/events.py",
            "tether/engine/",
        ),
    ),
    ("queue, timers, runtime", ("tether/controller/runtime.py", "tether/controller/service.py")),
    ("API and UI server", ("tether/api/", "tether/cli/http.py", "tether/cli/serve.py")),
)
HTTP_LIBS = ("/httpx/", "/httpcore/", "/h11/", "/anyio/", "/ssl.py", "/h2/")
SERVER_LIBS = ("/uvicorn/", "/starlette/", "/fastapi/", "/sse_starlette/")


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3.11/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def concept_of(frames: list[str]) -> str:
    """``frames``: file names, innermost first."""
    if any(f.startswith("<frozen importlib") for f in frames):
        return "imports (code objects, module state)"
    ours = [f for f in frames if "/tether/" in f and "adapters/kube/client.py" not in f]
    for f in ours[:1]:
        for concept, markers in CONCEPTS:
            if any(m in f for m in markers):
                return concept
        return "other Tether"
    if any(any(m in f for m in SERVER_LIBS) for f in frames):
        return "API and UI server"
    if any("adapters/kube/client.py" in f for f in frames):
        return "Kubernetes client (responses, watches)"
    if any(any(m in f for m in HTTP_LIBS) for f in frames):
        return "HTTP pools"
    if any("pygit2" in f for f in frames):
        return "Git objects"
    return "other (interpreter, libraries)"


def site_of(frames: list[tuple[str, int]]) -> str:
    """The innermost Tether frame (the code that asked), else the innermost frame."""
    for filename, lineno in frames:
        if "/tether/" in filename and "adapters/kube/client.py" not in filename:
            return f"{_short(filename)}:{lineno}"
    filename, lineno = frames[0]
    return f"{_short(filename)}:{lineno}"


def summarise_snapshot(path: Path, top: int = 15) -> dict[str, Any]:
    snap = tracemalloc.Snapshot.load(str(path))
    by_concept: Counter[str] = Counter()
    by_site: Counter[str] = Counter()
    blocks: Counter[str] = Counter()
    for stat in snap.statistics("traceback"):
        frames = [(f.filename, f.lineno) for f in stat.traceback]  # innermost first
        by_concept[concept_of([f for f, _ in frames])] += stat.size
        site = site_of(frames)
        by_site[site] += stat.size
        blocks[site] += stat.count
    total = sum(by_concept.values())
    return {
        "traced_mib": round(total / 1048576, 1),
        "by_concept": [
            {"concept": k, "mib": round(v / 1048576, 2)} for k, v in by_concept.most_common()
        ],
        "by_site": [
            {"site": k, "mib": round(v / 1048576, 2), "blocks": blocks[k]}
            for k, v in by_site.most_common(top)
        ],
    }


# -- what the controller's stores retain ---------------------------------------
def _deep_size(root: object, seen: set[int]) -> int:
    """Bytes reachable from ``root`` through containers, each object counted once."""
    size = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | type(sys) | type(_deep_size)):
            continue
        seen.add(id(obj))
        size += sys.getsizeof(obj)
        if isinstance(obj, dict):
            for k, v in list(obj.items()):
                stack.append(k)
                stack.append(v)
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(list(obj))
        elif hasattr(obj, "__dict__") and not isinstance(obj, Iterable):
            stack.append(vars(obj))
        elif hasattr(obj, "__slots__"):
            for slot in getattr(obj, "__slots__", ()):
                if hasattr(obj, slot):
                    stack.append(getattr(obj, slot))
    return size


def _instances(names: set[str]) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {n: [] for n in names}
    for obj in gc.get_objects():
        name = type(obj).__name__
        if name in out and type(obj).__module__.startswith("tether."):
            out[name].append(obj)
    return out


def retained() -> dict[str, Any]:
    """Sizes of the stores that grow with the number of apps, walked in this order
    (an object two stores share is counted in the first)."""
    found = _instances({"LiveCache", "Reconciler", "Sources", "DryRunCache", "Controller"})
    seen: set[int] = set()
    out: dict[str, Any] = {}

    def measure(label: str, roots: list[object]) -> None:
        out[label] = round(sum(_deep_size(r, seen) for r in roots) / 1048576, 2)

    caches = found["LiveCache"]
    measure("live cache objects", [c._objects for c in caches])  # type: ignore[attr-defined]
    out["live cache count"] = sum(len(c._objects) for c in caches)  # type: ignore[attr-defined,misc]
    measure(
        "live cache indexes",
        [(c._by_uid, c._by_namespace) for c in caches],  # type: ignore[attr-defined]
    )
    rec = found["Reconciler"]
    measure("reconciler memory (per app)", [r.memory for r in rec])  # type: ignore[attr-defined]
    srcs = found["Sources"]
    measure("render memos (per app)", [s._memo for s in srcs])  # type: ignore[attr-defined]
    measure("render cache + trees", [(s.renders, s._trees) for s in srcs])  # type: ignore[attr-defined]
    measure("dry-run cache", [d._entries for d in found["DryRunCache"]])  # type: ignore[attr-defined]
    # The rest the controller reaches, by attribute (the stores above already counted).
    for ctl in found["Controller"]:
        for name, value in sorted(vars(ctl).items()):
            measure(f"controller.{name}", [value])
    return out


# -- what the allocators hold ---------------------------------------------------
class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _libc() -> Any:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        return libc
    return None


def _rss_kib() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    return out


def _pymalloc() -> dict[str, int]:
    """Python's small-object allocator, from ``sys._debugmallocstats`` (it writes to fd 2)."""
    with tempfile.TemporaryFile("w+") as tmp:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read()
    out = {}
    for key in ("arenas allocated current", "arenas highwater mark", "bytes in allocated blocks",
                "bytes in available blocks"):  # fmt: skip
        m = re.search(r"# " + key + r"\s*=\s*([\d,]+)", text)
        if m:
            out[key] = int(m.group(1).replace(",", ""))
    return out


def allocators() -> dict[str, float]:
    """Where the process's anonymous memory sits, in MiB: glibc's heap (in use and free
    but not returned), its mmapped blocks, pymalloc's arenas (in use and free blocks)."""
    mib = 1048576
    kib = _rss_kib()
    out: dict[str, float] = {k: round(v / 1024, 1) for k, v in kib.items()}
    libc = _libc()
    if libc is not None:
        mi = libc.mallinfo2()
        out["glibc heap in use"] = round((mi.uordblks) / mib, 1)
        out["glibc heap free (kept)"] = round(mi.fordblks / mib, 1)
        out["glibc mmapped blocks"] = round(mi.hblkhd / mib, 1)
    py = _pymalloc()
    arenas = py.get("arenas allocated current", 0)
    out["pymalloc arenas"] = round(arenas * 1.0, 1)  # 1 MiB each on 3.11 (64-bit)
    out["pymalloc arena peak"] = float(py.get("arenas highwater mark", 0))
    out["pymalloc in use"] = round(py.get("bytes in allocated blocks", 0) / mib, 1)
    out["pymalloc free blocks"] = round(py.get("bytes in available blocks", 0) / mib, 1)
    pygit2 = sys.modules.get("pygit2")
    if pygit2 is not None:  # libgit2's object cache (trees and commits), outside both
        with contextlib.suppress(Exception):
            out["libgit2 object cache"] = round(pygit2.settings.cached_memory[0] / mib, 1)
    return out


def _types_top(top: int = 12) -> list[list[Any]]:
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for obj in gc.get_objects():
        name = type(obj).__name__
        counts[name] += 1
        sizes[name] += sys.getsizeof(obj)
    return [[k, counts[k], round(v / 1048576, 2)] for k, v in sizes.most_common(top)]


def census(top: int = 15) -> dict[str, Any]:
    """Every object the collector knows and the untracked ones they hold (strings, bytes,
    numbers), by type, and the dicts by their first keys: what is live, whoever holds it."""
    sizes: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    dicts: Counter[str] = Counter()
    dict_counts: Counter[str] = Counter()
    seen: set[int] = set()
    tracked = gc.get_objects()
    for obj in tracked:
        seen.add(id(obj))
    for obj in tracked:
        for ref in gc.get_referents(obj):
            if id(ref) in seen or gc.is_tracked(ref):
                continue
            seen.add(id(ref))
            name = type(ref).__name__
            sizes[name] += sys.getsizeof(ref)
            counts[name] += 1
        name = type(obj).__name__
        size = sys.getsizeof(obj)
        sizes[name] += size
        counts[name] += 1
        if type(obj) is dict:
            sig = ",".join(sorted(str(k) for k in list(obj)[:4]))[:80]
            dicts[sig] += size
            dict_counts[sig] += 1
    del tracked, seen
    return {
        "by_type": [[k, counts[k], round(v / 1048576, 2)] for k, v in sizes.most_common(top)],
        "dicts_by_keys": [
            [k, dict_counts[k], round(v / 1048576, 2)] for k, v in dicts.most_common(top)
        ],
    }


class PeakProbe:
    """Notes the allocators' state (and the tracked objects by type) each time RSS
    passes its last high by ``step`` bytes: what the heap looks like at the peak,
    which the per-phase dumps, taken after the burst, cannot show."""

    def __init__(self, step: int = 4 << 20, interval: float = 0.25) -> None:
        self.step = step
        self.interval = interval
        self.high = 0
        self.at_peak: dict[str, Any] = {}
        threading.Thread(target=self._run, name="peak-probe", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            rss = _rss_kib().get("VmRSS", 0) * 1024
            if rss >= self.high + self.step:
                self.high = rss
                self.at_peak = {
                    "at": time.strftime("%H:%M:%S"),
                    **allocators(),
                    "objects_by_type": _types_top(),
                }


PROBE: list[PeakProbe] = []


def _dump(out_dir: Path, counter: list[int]) -> None:
    counter[0] += 1
    i = counter[0]
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(str(out_dir / f"snapshot-{i}.pickle"))
    try:
        held = retained()
    except Exception as exc:  # a store changed shape: the snapshot still stands
        held = {"error": repr(exc)}
    held["modules"] = len(sys.modules)
    held["packages"] = sorted({m.split(".")[0] for m in sys.modules if not m.startswith("_")})
    held["traced_current_mib"] = round(current / 1048576, 1)
    held["traced_peak_mib"] = round(peak / 1048576, 1)
    held["allocators"] = allocators()
    if os.environ.get("TETHER_BENCH_CENSUS") == "1":
        held["census"] = census()
    if PROBE:
        held["at_rss_peak"] = PROBE[0].at_peak
    (out_dir / f"retained-{i}.json").write_text(json.dumps(held, indent=1))
    (out_dir / f"done-{i}").write_text("")


def main() -> None:
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    sys.argv = ["tether", *sys.argv[2:]]
    counter = [0]
    signal.signal(signal.SIGUSR1, lambda *_: _dump(out_dir, counter))
    from tether.cli.main import cli

    # Traced from here: tracing the imports costs minutes on 2 busy cores, and what
    # they hold is the idle process's RSS, which the bench measures untraced.
    frames = int(os.environ.get("TETHER_BENCH_TRACE_FRAMES", FRAMES))
    if frames > 0:  # 0: only what the stores retain, at the speed of an untraced run
        tracemalloc.start(frames)

    if os.environ.get("TETHER_BENCH_PEAK_PROBE") == "1":
        PROBE.append(PeakProbe())
    (out_dir / "pid").write_text(str(os.getpid()))
    cli(standalone_mode=False)


def summarise(out_dir: Path, labels: list[str]) -> dict[str, Any]:
    """One entry per signal, labelled in order (e.g. ["create", "update"])."""
    out: dict[str, Any] = {}
    for i, label in enumerate(labels, start=1):
        snap = out_dir / f"snapshot-{i}.pickle"
        entry: dict[str, Any] = {}
        if snap.exists():
            entry = summarise_snapshot(snap)
            snap.unlink()  # hundreds of MiB at 1,000 apps; the summary is what is kept
        held = out_dir / f"retained-{i}.json"
        entry["retained_mib"] = json.loads(held.read_text()) if held.exists() else None
        out[label] = entry
    return out


if __name__ == "__main__":
    main()


# -- the report ------------------------------------------------------------------
NONE = "\u2013"  # an en dash, as the other tables of the report show a missing value


def _mib(v: Any) -> str:
    return f"{v:.1f} MiB" if isinstance(v, int | float) else NONE


def report(path: Path) -> list[str]:
    """docs/performance.md's memory section, from ``bench/results/memory.json``."""
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    out = [
        "## Where the memory goes (mttp, `tether controller --listen`)",
        "",
        str(data.get("how", "")),
        "",
        "| code | N | RSS with the API up, no apps | peak RSS (VmHWM) | create | update "
        "| load average (1 min) at start |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in data.get("runs", []):
        out.append(
            f"| {run['code']} | {run['n']} | {_mib(run.get('idle_rss_mib'))} "
            f"| {_mib(run.get('peak_rss_mib'))} | {run.get('create') or NONE} "
            f"| {run.get('update') or NONE} | {run.get('load', NONE)} |"
        )
    for line in data.get("slopes", []):
        out += ["", line]
    held = data.get("retained") or {}
    if held:
        labels = list(held)
        stores = list(next(iter(held.values())))
        out += [
            "",
            "What the per-app stores hold after the update phase (walked in the process; an "
            "object two stores share counted once, in the first):",
            "",
            "| store | " + " | ".join(labels) + " |",
            "|---|" + "---:|" * len(labels),
        ]
        for store in stores:
            values = [held[label].get(store) for label in labels]
            small = all(not isinstance(v, int | float) or v < 0.2 for v in values)
            if store.startswith("controller.") and small:
                continue
            cells = []
            for label in labels:
                v = held[label].get(store)
                cells.append(_mib(v) if "count" not in store else str(v))
            out.append(f"| {store} | " + " | ".join(cells) + " |")
    heap = data.get("heap") or {}
    if heap:
        labels = list(heap)
        rows = list(next(iter(heap.values())))
        out += [
            "",
            str(data.get("heap_how", "Where the process's memory sits (`allocators()`):")),
            "",
            "| memory | " + " | ".join(labels) + " |",
            "|---|" + "---:|" * len(labels),
        ]
        for row in rows:
            out.append(f"| {row} | " + " | ".join(_mib(heap[lb].get(row)) for lb in labels) + " |")
    for note in data.get("notes", []):
        out += ["", note]
    out.append("")
    return out
