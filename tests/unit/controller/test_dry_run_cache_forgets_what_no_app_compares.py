"""The dry-run answers are dropped once no app compares their object any more.

Found by reading the controller while building the soak: an object renamed by
every commit (the soak's moving ConfigMap, a kustomize configMapGenerator's
hashed name) left its answer behind for as long as the controller ran.
"""

from __future__ import annotations

from tether.controller.compare import SYNCED, DryRunCache
from tether.engine.objects import ObjectKey


def _cm(name: str) -> ObjectKey:
    return ObjectKey(group="", kind="ConfigMap", namespace="shop", name=name)


def _fill(cache: DryRunCache, *keys: ObjectKey) -> None:
    for key in keys:
        cache.put(key, "content", "1", SYNCED)


def test_an_object_the_app_no_longer_renders_is_forgotten() -> None:
    cache = DryRunCache()
    for gen in range(100):  # a name that moves with every commit
        keys = {_cm("cfg"), _cm(f"x{gen}")}
        _fill(cache, *keys)
        cache.compared("shop", keys)
    assert len(cache) == 2
    assert cache.get(_cm("x99"), "content", "1") is SYNCED
    assert cache.get(_cm("x98"), "content", "1") is None


def test_another_apps_answers_stay() -> None:
    cache = DryRunCache()
    _fill(cache, _cm("a"), _cm("b"))
    cache.compared("one", {_cm("a")})
    cache.compared("two", {_cm("b")})
    cache.compared("one", set())
    assert cache.get(_cm("b"), "content", "1") is SYNCED
    assert len(cache) == 1


def test_a_deleted_app_leaves_nothing_behind() -> None:
    cache = DryRunCache()
    _fill(cache, _cm("a"), _cm("b"))
    cache.compared("shop", {_cm("a"), _cm("b")})
    cache.forget_owner("shop")
    cache.forget_owner("never-seen")
    assert len(cache) == 0
