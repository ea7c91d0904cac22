"""Turn a cProfile file into the few lines worth reading: top functions by own and total time."""

from __future__ import annotations

import pstats
from pathlib import Path
from typing import Any

# Where threads sit when they have nothing to do; not work, so left out of "own time".
IDLE_WAITS = (
    "'get' of '_queue.SimpleQueue'",
    "'poll' of 'select.epoll'",
    "'acquire' of '_thread.lock'",
    "'poll' of 'select.poll'",
    "'wait' of ",
    "'select' of 'select.",
    "'control' of 'select.",
)


def _name(func: tuple[str, int, str]) -> str:
    path, line, name = func
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{line}({name})" if line else name


def summarise(path: Path, top: int = 25) -> dict[str, Any]:
    if not path.exists():
        return {"error": f"no profile written at {path}"}
    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = [
        {"function": _name(func), "calls": nc, "tottime": round(tt, 3), "cumtime": round(ct, 3)}
        for func, (_cc, nc, tt, ct, _callers) in raw.items()
    ]
    idle = [r for r in rows if any(w in r["function"] for w in IDLE_WAITS)]
    busy = [r for r in rows if r not in idle]
    by_own = sorted(busy, key=lambda r: -r["tottime"])[:top]
    ours = [r for r in rows if r["function"].startswith("tether/")]
    by_cum = sorted(ours, key=lambda r: -r["cumtime"])[:top]
    return {
        "file": str(path),
        "total_tottime": round(sum(r["tottime"] for r in rows), 2),
        "idle_waits_left_out": round(sum(r["tottime"] for r in idle), 1),
        "by_own_time": by_own,
        "tether_by_cumulative_time": by_cum,
    }
