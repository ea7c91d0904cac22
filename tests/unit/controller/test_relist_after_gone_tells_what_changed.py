"""A list after 410 Gone tells the controller what changed while no watch ran.

The first list is read by the controller when it starts, so it tells nothing; a
later one must, or an Application created while the watch was away would never be
reconciled (nothing else queues it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from tether.adapters.kube import ApiResource, KubeClient
from tether.adapters.kube.client import Page
from tether.controller.live_cache import LiveCache
from tether.engine.objects import Obj

CONFIG_MAPS = ApiResource("", "v1", "ConfigMap", "configmaps", True, frozenset({"list", "watch"}))


def _cm(name: str, value: str) -> Obj:
    meta = {"name": name, "namespace": "team", "labels": {"tether.dev/instance": "a"}}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": value}}


class _Lister:
    def __init__(self) -> None:
        self.items: list[Obj] = []

    async def pages(self, api: ApiResource, **_: Any) -> AsyncIterator[Page]:
        del api
        yield Page([dict(o, metadata=dict(o["metadata"])) for o in self.items], "7")


def _relist(cache: LiveCache) -> None:
    async def run() -> None:
        await cache._relist(CONFIG_MAPS)
        cache._listed.add((CONFIG_MAPS.api_version, CONFIG_MAPS.kind))  # as _run does

    asyncio.run(run())


def test_the_first_list_tells_nothing_and_a_relist_tells_only_what_changed() -> None:
    lister = _Lister()
    told: list[tuple[str, str]] = []
    cache = LiveCache(
        cast(KubeClient, lister), lambda t, o: told.append((t, o["metadata"]["name"]))
    )
    lister.items = [_cm("kept", "1"), _cm("changed", "1"), _cm("removed", "1")]
    _relist(cache)
    assert told == []
    lister.items = [_cm("kept", "1"), _cm("changed", "2"), _cm("created", "1")]
    _relist(cache)
    assert sorted(told) == [("ADDED", "created"), ("DELETED", "removed"), ("MODIFIED", "changed")]
    assert len(cache) == 3
