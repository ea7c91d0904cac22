"""Registry look-ups remembered for a while: the chart version a range resolves to,
the manifest a tag names. Failures are remembered too, so an app polling a
repository with a wrong password does not ask the registry on every pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=tuple[Hashable, ...])  # the repository URL comes first
V = TypeVar("V")


class Answers(Generic[K, V]):
    """Answers (and ``remembered`` failures) per key for ``max_age`` seconds; thread-safe."""

    def __init__(self, remembered: type[Exception]) -> None:
        self.remembered = remembered
        self._ok: dict[K, tuple[float, V]] = {}
        self._failed: dict[K, tuple[float, Exception]] = {}
        self._lock = threading.Lock()

    def get(self, key: K, max_age: float, ask: Callable[[], V]) -> V:
        now = time.monotonic()
        with self._lock:
            known = self._ok.get(key)
            failed = self._failed.get(key)
        if known is not None and now - known[0] <= max_age:
            return known[1]
        if failed is not None and now - failed[0] <= max_age:
            raise failed[1]
        try:
            answer = ask()
        except self.remembered as exc:
            with self._lock:
                self._failed[key] = (now, exc)
            raise
        with self._lock:
            self._failed.pop(key, None)
            self._ok[key] = (now, answer)
        return answer

    def forget(self, url: str) -> None:
        """Ask again next time for everything about the repository ``url``."""
        with self._lock:
            for table in (self._ok, self._failed):
                for key in [k for k in table if k[0] == url]:
                    table.pop(key, None)
