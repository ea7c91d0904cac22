"""Every app's ``tether.dev/shard`` label, for the ring, decoded only when the app changed.

The ring is recomputed on every sighting of the Leases (every second). Decoding
every cached Application for it took about a fifth of each replica's CPU at
1,000 apps, while an app's label changes rarely: each app's label is kept with
the cache's version of the app it was read from, and read again only when that
version is replaced.
"""

from __future__ import annotations

from tether.controller.live_cache import LiveCache
from tether.engine import application as appmodel
from tether.engine.objects import labels
from tether.engine.sharding import shard_of


class ShardLabels:
    def __init__(self, live: LiveCache, app_namespace: str) -> None:
        self.live = live
        self.app_namespace = app_namespace
        self._known: dict[str, tuple[object, str | None]] = {}  # name -> (version, label)

    def __call__(self) -> list[tuple[str, str | None]]:
        """Every app's name and shard label (None without one)."""
        known: dict[str, tuple[object, str | None]] = {}
        kind = (appmodel.GROUP, appmodel.KIND)
        for key, version in self.live.versions_in_namespace(self.app_namespace, kind=kind):
            entry = self._known.get(key.name)
            if entry is None or entry[0] is not version:
                app = self.live.get(key)
                if app is None or app.get("apiVersion") != appmodel.API_VERSION:
                    continue
                entry = (version, shard_of(labels(app)))
            known[key.name] = entry
        self._known = known  # holds only the versions the cache holds too
        return [(name, label) for name, (_, label) in known.items()]
