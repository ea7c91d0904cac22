"""The ring reads every app's shard label every second: only apps stored again are decoded."""

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


def test_an_unchanged_app_is_not_decoded_again() -> None:
    cache, decoded = _counting_cache()
    for i in range(5):
        cache._store("ADDED", _app(f"app-{i}", "replica-a" if i == 0 else None))
    labels = ShardLabels(cache, NS)
    assert sorted(labels()) == [("app-0", "replica-a")] + [(f"app-{i}", None) for i in range(1, 5)]
    assert len(decoded) == 5
    decoded.clear()
    assert len(labels()) == 5
    assert decoded == []


def test_a_stored_app_is_read_again_and_a_deleted_one_is_gone() -> None:
    cache, decoded = _counting_cache()
    for i in range(3):
        cache._store("ADDED", _app(f"app-{i}"))
    labels = ShardLabels(cache, NS)
    labels()
    decoded.clear()
    cache._store("MODIFIED", _app("app-1", "2", generation=2))
    cache._store("DELETED", _app("app-2"))
    assert sorted(labels()) == [("app-0", None), ("app-1", "2")]
    assert decoded == ["app-1"]


def test_other_kinds_and_namespaces_are_not_apps() -> None:
    cache, _ = _counting_cache()
    cache._store("ADDED", _app("app-0"))
    other_ns = _app("elsewhere")
    other_ns["metadata"]["namespace"] = "team-a"
    cache._store("ADDED", other_ns)
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    config_map["metadata"]["namespace"] = NS
    cache._store("ADDED", config_map)
    assert ShardLabels(cache, NS)() == [("app-0", None)]
