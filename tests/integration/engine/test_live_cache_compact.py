"""The live cache keeps compact copies: what readers see, and what they cannot change.

Against the real API server: objects written with kubectl-style last-applied
annotations and server-side apply (so they carry managedFields) are watched
into the cache, which must hand back everything else unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.live_cache import LiveCache
from tether.engine.application import INSTANCE_LABEL
from tether.engine.objects import ObjectKey

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _config_map(name: str, ns: str, data: dict[str, str]) -> dict[str, Any]:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {INSTANCE_LABEL: "compact"}},
        "data": data,
    }
    body["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(body), "team": "finance"}
    return body


async def test_cached_objects_drop_managed_fields_and_last_applied_but_keep_the_rest(
    kube: KubeClient, namespace: str
) -> None:
    changes: list[tuple[str, str]] = []
    cache = LiveCache(kube, lambda t, o: changes.append((t, o["metadata"]["name"])))
    try:
        await cache.ensure_kinds([("v1", "ConfigMap")])
        written = await kube.apply(
            _config_map("settings", namespace, {"a": "1"}), field_manager="test"
        )
        key = ObjectKey("", "ConfigMap", namespace, "settings")

        async def seen() -> dict[str, Any] | None:
            return cache.get(key)

        got = await await_for(seen, what="the ConfigMap in the live cache")
        assert "managedFields" in written["metadata"]
        assert "managedFields" not in got["metadata"]
        assert got["metadata"]["annotations"] == {"team": "finance"}
        assert got["data"] == {"a": "1"}
        assert got["metadata"]["uid"] == written["metadata"]["uid"]
        assert cache.by_uid(written["metadata"]["uid"]) == got
        assert ("ADDED", "settings") in changes
    finally:
        await cache.close()


async def test_a_reader_changing_its_copy_does_not_change_the_cache(
    kube: KubeClient, namespace: str
) -> None:
    cache = LiveCache(kube, lambda _t, _o: None)
    try:
        await cache.ensure_kinds([("v1", "ConfigMap")])
        await kube.apply(_config_map("shared", namespace, {"a": "1"}), field_manager="test")
        key = ObjectKey("", "ConfigMap", namespace, "shared")

        async def seen() -> dict[str, Any] | None:
            return cache.get(key)

        first = await await_for(seen, what="the ConfigMap in the live cache")
        first["data"]["a"] = "changed by a careless reader"
        del first["metadata"]["labels"]
        again = cache.get(key)
        assert again is not None
        assert again["data"] == {"a": "1"}
        assert again["metadata"]["labels"] == {INSTANCE_LABEL: "compact"}
    finally:
        await cache.close()


async def test_in_namespace_filters_by_kind_and_follows_deletes(
    kube: KubeClient, namespace: str
) -> None:
    cache = LiveCache(kube, lambda _t, _o: None)
    try:
        await cache.ensure_kinds([("v1", "ConfigMap"), ("v1", "Secret")])
        await kube.apply(_config_map("one", namespace, {"a": "1"}), field_manager="test")
        await kube.apply(_config_map("two", namespace, {"b": "2"}), field_manager="test")
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "token",
                "namespace": namespace,
                "labels": {INSTANCE_LABEL: "compact"},
            },
            "stringData": {"token": "not-printed"},
        }
        await kube.apply(secret, field_manager="test")

        async def three() -> bool:
            return len(cache.in_namespace(namespace)) == 3

        await await_for(three, what="three objects cached")
        names = sorted(
            o["metadata"]["name"] for o in cache.in_namespace(namespace, kind=("", "ConfigMap"))
        )
        assert names == ["one", "two"]
        await kube.delete("v1", "ConfigMap", "one", namespace)

        async def gone() -> bool:
            return cache.get(ObjectKey("", "ConfigMap", namespace, "one")) is None

        await await_for(gone, what="the deleted ConfigMap gone from the cache")
        kinds = sorted(o["kind"] for o in cache.in_namespace(namespace))
        assert kinds == ["ConfigMap", "Secret"]
    finally:
        await cache.close()
