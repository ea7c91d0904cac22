"""What happened in a namespace, in the API server's own order.

Watches a few kinds in one namespace from a resourceVersion taken before the
test acts; every event keeps the resourceVersion the API server gave it. In
this single-etcd cluster resourceVersions are etcd revisions, one sequence
for every kind, so "this Job completed before that Deployment changed" is a
comparison of two numbers, never a guess from sleeps or clock readings.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from tether.adapters.kube import KubeClient

Obj = dict[str, Any]


@dataclass
class Seen:
    rv: int
    type: str
    obj: Obj

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


@dataclass
class Recorder:
    events: list[Seen] = field(default_factory=list)

    def of(self, kind: str, name: str | None = None) -> list[Seen]:
        return sorted(
            (
                e
                for e in self.events
                if e.obj.get("kind") == kind and (name is None or e.name.startswith(name))
            ),
            key=lambda e: e.rv,
        )

    def first(self, kind: str, name: str, when: Callable[[Obj], bool], what: str) -> int:
        """The resourceVersion at which ``when`` first held for the object."""
        for e in self.of(kind, name):
            if e.type != "DELETED" and when(e.obj):
                return e.rv
        kinds = sorted({f"{e.obj.get('kind')}/{e.name}" for e in self.events})
        raise AssertionError(f"{kind} {name} never {what}; seen: {', '.join(kinds)}")

    def created(self, kind: str, name: str) -> int:
        return self.first(kind, name, lambda _o: True, "appeared")


def condition_true(obj: Obj, ctype: str) -> bool:
    return any(
        c.get("type") == ctype and c.get("status") == "True"
        for c in (obj.get("status") or {}).get("conditions") or []
    )


def deployment_available(generation: int) -> Callable[[Obj], bool]:
    def check(obj: Obj) -> bool:
        st = obj.get("status") or {}
        want = (obj.get("spec") or {}).get("replicas", 1)
        return (
            obj["metadata"].get("generation") == generation
            and st.get("observedGeneration", 0) >= generation
            and st.get("updatedReplicas") == want
            and st.get("availableReplicas") == want
        )

    return check


@contextlib.asynccontextmanager
async def recording(
    kube: KubeClient, namespace: str, kinds: list[tuple[str, str]]
) -> AsyncIterator[Recorder]:
    recorder = Recorder()
    tasks = []

    async def follow(api_version: str, kind: str, ready: asyncio.Event) -> None:
        api = await kube.resource_for(api_version, kind)
        items, rv = await kube.list(api, namespace)
        for item in items:
            recorder.events.append(Seen(int(item["metadata"]["resourceVersion"]), "EXISTING", item))
        ready.set()
        while True:
            async for event in kube.watch(api, rv, namespace, timeout_seconds=60):
                obj = event.object
                rv = str(obj.get("metadata", {}).get("resourceVersion") or rv)
                if event.type in ("ADDED", "MODIFIED", "DELETED"):
                    recorder.events.append(Seen(int(rv), event.type, obj))

    readies = []
    for api_version, kind in kinds:
        ready = asyncio.Event()
        readies.append(ready.wait())
        tasks.append(asyncio.create_task(follow(api_version, kind, ready)))
    await asyncio.gather(*readies)
    try:
        yield recorder
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
