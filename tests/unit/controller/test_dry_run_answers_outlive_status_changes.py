"""A dry-run answer stays valid while only the live object's status moves.

After a sync a Deployment's status (and an Ingress's address) changes on its
own; a comparison does not look at status, so asking the API server again
would only cost a request. A change anywhere else asks again.
"""

from __future__ import annotations

import copy
from typing import Any

from tether.controller.compare import SYNCED, Comparison, DryRunCache
from tether.engine.objects import ObjectKey

KEY = ObjectKey(group="apps", kind="Deployment", namespace="shop", name="web")


def _live(rv: str, *, replicas: int = 1, ready: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": rv, "uid": "u1"},
        "spec": {"replicas": replicas},
        "status": {"readyReplicas": ready},
    }


def test_a_status_only_change_keeps_the_answer() -> None:
    cache = DryRunCache()
    cache.put(KEY, "content", "10", SYNCED, _live("10"))
    assert cache.get(KEY, "content", "11", _live("11", ready=1)) is SYNCED


def test_a_spec_change_asks_again() -> None:
    cache = DryRunCache()
    cache.put(KEY, "content", "10", SYNCED, _live("10"))
    assert cache.get(KEY, "content", "11", _live("11", replicas=3)) is None


def test_new_content_asks_again() -> None:
    cache = DryRunCache()
    cache.put(KEY, "content", "10", SYNCED, _live("10"))
    assert cache.get(KEY, "other content", "10", _live("10")) is None


def test_what_a_sync_applied_is_in_sync_with_itself() -> None:
    cache = DryRunCache()
    comparison = Comparison(cache=cache, contents={KEY: "content"})
    stored = _live("12")
    comparison.settle(KEY, copy.deepcopy(stored))
    assert cache.get(KEY, "content", "12", stored) is SYNCED
    assert cache.get(KEY, "content", "13", _live("13", ready=1)) is SYNCED
    assert cache.get(KEY, "content", "14", _live("14", replicas=2)) is None
