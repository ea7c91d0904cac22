"""When each of a peer's N objects (Flux Kustomizations, Argo CD Applications) reaches a commit.

The same clock as Tether's ``AppTracker``: a watch on the collection stamps
the moment an object first says it is done at the target commit; what "done"
means is the peer's own definition, passed in as a function of the object and
the commit.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.harness import Env, Watcher, percentile

Done = Callable[[dict[str, Any], str], bool]
Seen = Callable[[dict[str, Any]], bool]
Describe = Callable[[dict[str, Any]], str]


class ObjectTracker:
    """Watches one collection; records when each object first satisfies ``done(obj, sha)``."""

    def __init__(self, env: Env, path: str, done: Done, seen: Seen, describe: Describe) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.done_at: dict[str, float] = {}
        self.target: str | None = None
        self.cond = threading.Condition()
        self._done, self._seen, self._describe = done, seen, describe
        self.watcher = Watcher(env, path, self._handle)

    def _handle(self, event: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        now = time.monotonic()
        with self.cond:
            if event == "DELETED":
                self.objects.pop(name, None)
            else:
                self.objects[name] = obj
                if self.target and name not in self.done_at and self._done(obj, self.target):
                    self.done_at[name] = now
            self.cond.notify_all()

    def expect(self, sha: str) -> None:
        with self.cond:
            self.target = sha
            now = time.monotonic()
            self.done_at = {n: now for n, o in self.objects.items() if self._done(o, sha)}

    def wait(self, names: list[str], timeout: float, stall: float | None = None) -> bool:
        """True when all are done; False at the timeout or after ``stall`` s without progress."""
        deadline = time.monotonic() + timeout
        progress, count = time.monotonic(), -1
        with self.cond:
            while not all(n in self.done_at for n in names):
                now = time.monotonic()
                if len(self.done_at) != count:
                    progress, count = now, len(self.done_at)
                if now >= deadline or (stall is not None and now - progress > stall):
                    return False
                self.cond.wait(min(deadline - now, 1.0))
            return True

    def wait_seen(self, names: list[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(n in self.objects and self._seen(self.objects[n]) for n in names):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 1.0))
            return True

    def stuck(self, names: list[str], limit: int = 5) -> list[dict[str, str]]:
        with self.cond:
            late = [n for n in names if n not in self.done_at][:limit]
            return [{"name": n, "state": self._describe(self.objects.get(n) or {})} for n in late]

    def summary(self) -> dict[str, int]:
        with self.cond:
            return dict(Counter(self._describe(o).split(":")[0] for o in self.objects.values()))

    def timings(self, names: list[str], pushed: float, ok: bool) -> dict[str, Any]:
        """A phase's figures from when each app was done, counted from the push."""
        done = dict(self.done_at)
        times = sorted(done[a] - pushed for a in names if a in done)
        return {
            "apps_done": len(times),
            "seconds_to_all": round(times[-1], 2) if ok and times else None,
            "seconds_to_first": round(times[0], 2) if times else None,
            "seconds_p50": percentile(times, 0.5),
            "apps_per_second": round(len(names) / times[-1], 1) if ok and times else None,
            "states_at_end": self.summary(),
            "stuck_examples": self.stuck(names) if not ok else [],
        }

    def close(self) -> None:
        self.watcher.close()


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}
