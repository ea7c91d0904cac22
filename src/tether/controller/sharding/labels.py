"""Every app's ``tether.dev/shard`` label, for the ring, and which changed since last asked.

The ring is recomputed on every sighting of the Leases (every second). Decoding
every cached Application for it took about a fifth of each replica's CPU at
1,000 apps, and walking every app even without decoding took a quarter at
10,000, while an app's label changes rarely: the cache notes each Application
it stores or drops (``LiveCache.journal``), and only those are read again.
"""

from __future__ import annotations

from tether.controller.live_cache import LiveCache
from tether.controller.sharding.member import AppShards
from tether.engine import application as appmodel
from tether.engine.objects import ObjectKey, labels
from tether.engine.sharding import shard_of

KIND = (appmodel.GROUP, appmodel.KIND)
_NONE = object()


class ShardLabels:
    def __init__(self, live: LiveCache, app_namespace: str) -> None:
        self.live = live
        self.app_namespace = app_namespace
        self._labels: dict[str, str | None] = {}
        self._journal: set[ObjectKey] | None = None

    def __call__(self) -> AppShards:
        """Every app's label by name (this object's own, changed by the next call), and
        the apps whose label came, went or changed since the last call (the first
        call: all of them, as not known)."""
        if self._journal is None:
            self._journal = self.live.journal(self.app_namespace, KIND)
            for key, _ in self.live.versions_in_namespace(self.app_namespace, kind=KIND):
                self._read(key)
            return AppShards(self._labels)
        noted = list(self._journal)
        self._journal.clear()
        changed = frozenset(key.name for key in noted if self._read(key))
        return AppShards(self._labels, changed)

    def _read(self, key: ObjectKey) -> bool:
        """Read the app's label again; whether it came, went or changed."""
        app = self.live.get(key)
        if app is None or app.get("apiVersion") != appmodel.API_VERSION:
            return self._labels.pop(key.name, _NONE) is not _NONE
        label = shard_of(labels(app))
        if key.name in self._labels and self._labels[key.name] == label:
            return False
        self._labels[key.name] = label
        return True
