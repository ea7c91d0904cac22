"""The ring reads every app's shard label every second: only apps the cache stored again
since the last reading are decoded, and only a label that moved counts as a change."""

from __future__ import annotations

from typing import Any, cast

from tether.adapters.kube import KubeClient
from tether.controller.live_cache import LiveCache
from tether.controller.sharding.labels import ShardLabels
from tether.engine import application as appmodel
from tether.engine.objects import Obj, ObjectKey
from tether.engine.sharding import SHARD_LABEL

NS = "tether"


def _app(name: str, shard: str | None = None, *, generation: int = 1) -> Obj:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "generation": generation}
    if shard is not None:
        meta["labels"] = {SHARD_LABEL: shard}
    return {"apiVersion": appmodel.API_VERSION, "kind": appmodel.KIND, "metadata": meta}


def _counting_cache() -> tuple[LiveCache, list[str]]:
    cache = LiveCache(cast(KubeClient, None), lambda _type, _obj: None)
    decoded: list[str] = []
    get = cache.get

    def counted(key: ObjectKey) -> Obj | None:
        decoded.append(key.name)
        return get(key)

    cache.get = counted  # type: ignore[method-assign]
    return cache, decoded


def test_the_first_reading_has_every_app_and_later_ones_decode_nothing_unchanged() -> None:
    cache, decoded = _counting_cache()
    for i in range(5):
        cache._store("ADDED", _app(f"app-{i}", "replica-a" if i == 0 else None))
    labels = ShardLabels(cache, NS)
    first = labels()
    assert first.changed is None, "the first reading cannot know what changed"
    assert dict(first.labels) == {"app-0": "replica-a"} | {f"app-{i}": None for i in range(1, 5)}
    assert len(decoded) == 5
    decoded.clear()
    again = labels()
    assert again.changed == frozenset()
    assert len(again.labels) == 5
    assert decoded == []


def test_a_stored_app_is_read_again_and_only_a_moved_label_or_a_gone_app_is_a_change() -> None:
    cache, decoded = _counting_cache()
    for i in range(4):
        cache._store("ADDED", _app(f"app-{i}"))
    labels = ShardLabels(cache, NS)
    labels()
    decoded.clear()
    cache._store("MODIFIED", _app("app-0", generation=2))  # stored again, same label
    cache._store("MODIFIED", _app("app-1", "2", generation=2))
    cache._store("DELETED", _app("app-2"))
    cache._store("ADDED", _app("app-9"))
    reading = labels()
    assert reading.changed == {"app-1", "app-2", "app-9"}
    assert dict(reading.labels) == {"app-0": None, "app-1": "2", "app-3": None, "app-9": None}
    assert sorted(decoded) == ["app-0", "app-1", "app-2", "app-9"]
    assert labels().changed == frozenset()


def test_other_kinds_and_namespaces_are_not_apps() -> None:
    cache, _ = _counting_cache()
    cache._store("ADDED", _app("app-0"))
    labels = ShardLabels(cache, NS)
    labels()
    other_ns = _app("elsewhere")
    other_ns["metadata"]["namespace"] = "team-a"
    cache._store("ADDED", other_ns)
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    config_map["metadata"]["namespace"] = NS
    cache._store("ADDED", config_map)
    reading = labels()
    assert reading.changed == frozenset()
    assert dict(reading.labels) == {"app-0": None}
