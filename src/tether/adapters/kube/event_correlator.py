"""Repeated Events become one Event with a count, written at most every so often.

A controller says the same thing again and again when nothing changes (a
broken source on every poll, a sync retried with backoff, self-heal fighting
another writer): client-go's EventCorrelator turns an Event identical to one
sent within ten minutes into a count bump on the first, and events.k8s.io's
series write that count only on a heartbeat. Both here: the first Event is
created; a repeat within the window raises its count, written with the
first repeat a heartbeat after the last write. A burst is then one request;
the repeats of the last heartbeat before a burst ends are counted only if
another comes (as events.k8s.io series, the count is a lower bound).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from tether.engine.objects import Obj

WINDOW = 600.0  # as client-go's EventCorrelator (defaultAggregateIntervalInSeconds)
HEARTBEAT = 30.0
LIMIT = 4096  # series remembered; the oldest goes first


@dataclass
class Series:
    name: str
    namespace: str
    count: int
    first_seen: float
    written: float  # when the count was last written
    written_count: int


@dataclass(frozen=True)
class Decision:
    """What to send for an Event: ``create`` it, ``bump`` the series' count, or nothing."""

    action: str  # create | bump | none
    series: Series | None = None


class EventCorrelator:
    def __init__(
        self,
        *,
        window: float = WINDOW,
        heartbeat: float = HEARTBEAT,
        limit: int = LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.heartbeat = heartbeat
        self.limit = limit
        self.clock = clock
        self._series: OrderedDict[bytes, Series] = OrderedDict()

    def observe(self, event: Obj) -> Decision:
        now = self.clock()
        self._expire(now)
        key = series_key(event)
        found = self._series.get(key)
        if found is None or now - found.first_seen > self.window:
            return Decision("create")
        found.count += 1
        if now - found.written < self.heartbeat:
            return Decision("none", found)
        return Decision("bump", found)

    def created(self, event: Obj) -> None:
        """``event`` was created: repeats of it count on it from now on."""
        now = self.clock()
        meta = event["metadata"]
        key = series_key(event)
        self._series.pop(key, None)  # kept in order of creation: the oldest expires first
        self._series[key] = Series(str(meta["name"]), str(meta["namespace"]), 1, now, now, 1)
        while len(self._series) > self.limit:
            self._series.popitem(last=False)

    def bumped(self, series: Series) -> None:
        series.written = self.clock()
        series.written_count = series.count

    def forget(self, event: Obj) -> None:
        self._series.pop(series_key(event), None)

    def _expire(self, now: float) -> None:
        while self._series:
            oldest = next(iter(self._series.values()))
            if now - oldest.first_seen <= self.window:
                return
            self._series.popitem(last=False)


def series_key(event: Obj) -> bytes:
    """Events are the same when everything but their name and times is: who said it,
    about which object, of what type, why and in which words (kept hashed: a message
    may be a thousand characters)."""
    involved = event.get("involvedObject") or {}
    source = event.get("source") or {}
    parts = (
        event["metadata"].get("namespace", ""),
        involved.get("kind", ""),
        involved.get("namespace", ""),
        involved.get("name", ""),
        involved.get("uid", ""),
        event.get("type", ""),
        event.get("reason", ""),
        event.get("message", ""),
        source.get("component", ""),
        source.get("host", ""),
    )
    text = json.dumps([str(p) for p in parts]).encode()
    return hashlib.blake2b(text, digest_size=16).digest()
