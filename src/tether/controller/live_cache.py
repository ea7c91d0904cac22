"""A watch-based cache of live cluster objects.

One list + watch per resource type, cluster-wide, shared by every
Application: drift and Pod changes arrive within a watch round-trip instead
of waiting for a poll. Watches resume from the last resourceVersion
(bookmarks keep it fresh) and relist when the server answers 410 Gone.
Objects are stored without managedFields and kubectl's last-applied
annotation (the bulk of most objects); the few passes that need field
ownership read it from the API server.

Each object is kept serialised (``packed.pack``) and decoded on every read:
a Kubernetes object as nested dicts takes six to seven times the memory of
its serialised form, the cache holds several objects per app for the life of
the process, and a pass reads only its own app's few (about 20 us each).
Every reader gets its own copy, so no caller can change what the next sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

from tether.adapters.kube import ApiError, ApiResource, KubeClient
from tether.adapters.kube.reflector import Reflector
from tether.controller import loops
from tether.controller.packed import pack, unpack
from tether.engine.application import API_VERSION, INSTANCE_LABEL, KIND
from tether.engine.objects import Obj, ObjectKey, key_of

log = logging.getLogger(__name__)

ChangeHandler = Callable[[str, Obj], None]

CHILD_KINDS = (("apps/v1", "ReplicaSet"), ("v1", "Pod"), ("batch/v1", "Job"))
# Kinds cached whole; every other kind only where it carries an app's label,
# so a cluster's unrelated objects (default ServiceAccounts, other teams'
# ConfigMaps...) cost no memory. Trees list the rest on demand for orphans.
WHOLE_KINDS = frozenset({*CHILD_KINDS, ("v1", "Namespace"), (API_VERSION, KIND)})


def _shared(key: ObjectKey) -> ObjectKey:
    """``key`` with one copy of its group, kind and namespace for every cached object
    that has them (each decoded object brings its own)."""
    return ObjectKey(
        sys.intern(key.group), sys.intern(key.kind), sys.intern(key.namespace), key.name
    )


def selector_for(api: ApiResource) -> str | None:
    return None if (api.api_version, api.kind) in WHOLE_KINDS else INSTANCE_LABEL


class LiveCache:
    def __init__(self, kube: KubeClient, on_change: ChangeHandler) -> None:
        self.kube = kube
        self.on_change = on_change
        self._objects: dict[ObjectKey, bytes] = {}  # packed, see the module docstring
        self._by_uid: dict[str, ObjectKey] = {}
        self._by_namespace: dict[str, set[ObjectKey]] = defaultdict(set)
        self._by_type: dict[tuple[str, str], set[ObjectKey]] = defaultdict(set)
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._closing = False
        self._synced: dict[tuple[str, str], asyncio.Event] = {}
        self._listed: set[tuple[str, str]] = set()  # synced by a list, not by giving up
        self._journals: list[tuple[str, tuple[str, str], set[ObjectKey]]] = []

    # -- reading ------------------------------------------------------------
    def get(self, key: ObjectKey) -> Obj | None:
        packed = self._objects.get(key)
        return unpack(packed) if packed is not None else None

    def has(self, key: ObjectKey) -> bool:
        """Whether ``key`` is cached, without decoding it."""
        return key in self._objects

    def absent(self, api_version: str, key: ObjectKey) -> bool:
        """Whether the cache knows of no ``key``: its kind was listed and it is not cached
        (it may exist, created a moment ago). A kind the API server refuses to list
        (403) knows of nothing, so nothing of it is absent."""
        return (api_version, key.kind) in self._listed and key not in self._objects

    def watching(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self._tasks

    def in_namespace(self, namespace: str, *, kind: tuple[str, str] | None = None) -> list[Obj]:
        """Every cached object in ``namespace``; only ``kind`` ((group, kind)) when given,
        which decodes only those."""
        return list(self.each_in_namespace(namespace, kind=kind))

    def each_in_namespace(
        self, namespace: str, *, kind: tuple[str, str] | None = None
    ) -> Iterator[Obj]:
        """As ``in_namespace``, decoded one at a time: a caller that looks at each once
        (every Application, for a count) never holds them all decoded."""
        for _, packed in self.versions_in_namespace(namespace, kind=kind):
            yield unpack(packed)

    def versions_in_namespace(
        self, namespace: str, *, kind: tuple[str, str] | None = None
    ) -> Iterator[tuple[ObjectKey, bytes]]:
        """Each cached key in ``namespace`` (of ``kind`` when given), with its version:
        the same object (``is``) until the cached object is stored again, so what a
        caller derived from it can be kept until then without decoding it."""
        for k in list(self._by_namespace.get(namespace, ())):
            packed = self._objects.get(k)
            if packed is not None and (kind is None or (k.group, k.kind) == kind):
                yield k, packed

    def journal(self, namespace: str, kind: tuple[str, str]) -> set[ObjectKey]:
        """A set to which the cache adds, from now on, the key of every object of ``kind``
        ((group, kind)) in ``namespace`` it stores or drops; its reader empties it. For
        a reader that looks at the changed few instead of walking thousands each time."""
        noted: set[ObjectKey] = set()
        self._journals.append((namespace, kind, noted))
        return noted

    def by_uid(self, uid: str) -> Obj | None:
        key = self._by_uid.get(uid)
        return self.get(key) if key else None

    def __len__(self) -> int:
        return len(self._objects)

    # -- watching -----------------------------------------------------------
    async def ensure(self, resources: Iterable[ApiResource], *, wait: bool = True) -> None:
        """Start watching each resource type not watched yet; wait for their first list."""
        waits = []
        for api in resources:
            ident = (api.api_version, api.kind)
            if ident not in self._tasks:
                if "watch" not in api.verbs or "list" not in api.verbs:
                    continue
                self._synced[ident] = asyncio.Event()
                self._tasks[ident] = asyncio.create_task(self._run(api), name=f"watch {api.kind}")
            waits.append(self._synced[ident].wait())
        if wait and waits:
            await asyncio.gather(*waits)

    async def ensure_kinds(self, kinds: Iterable[tuple[str, str]], *, wait: bool = True) -> None:
        apis = []
        for api_version, kind in kinds:
            if self.watching(api_version, kind):
                if wait:
                    await self._synced[(api_version, kind)].wait()
                continue
            try:
                apis.append(await self.kube.resource_for(api_version, kind))
            except ApiError:
                continue
        await self.ensure(apis, wait=wait)

    async def close(self) -> None:
        # Bounded: a cancellation swallowed inside the HTTP stack (seen as a watch that
        # went on retrying after close) must not hold up a stop or a lost Lease.
        self._closing = True
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=loops.STOP_TIMEOUT)
            for task in pending:
                log.warning("live cache: %s did not stop in time; left behind", task.get_name())
            for task in tasks:
                if task.done() and not task.cancelled():
                    with contextlib.suppress(Exception):
                        task.result()

    async def _run(self, api: ApiResource) -> None:
        ident = (api.api_version, api.kind)

        async def relist() -> str:
            resource_version = await self._relist(api)
            self._listed.add(ident)
            self._synced[ident].set()
            return resource_version

        def failed(exc: Exception) -> None:
            if isinstance(exc, ApiError) and exc.status in (403, 404):
                self._synced[ident].set()  # not readable: waiting for it would wait for ever

        await Reflector(
            what=api.kind,
            relist=relist,
            watch=lambda version: self.kube.watch(api, version, label_selector=selector_for(api)),
            on_event=lambda event: self._store(event.type, event.object),
            on_failure=failed,
            stopping=lambda: self._closing,
        ).run()

    async def _relist(self, api: ApiResource) -> str:
        seen = set()
        resource_version = ""
        ident = (api.api_version, api.kind)
        # The first list is read by the controller at start; a list after 410 Gone tells
        # what changed while no watch ran (an app created then would wait for ever).
        again = ident in self._listed
        # Page by page: thousands of Applications decoded at once would set the peak.
        async for page in self.kube.pages(api, label_selector=selector_for(api)):
            for obj in page.items:
                key = _shared(key_of(obj))
                seen.add(key)
                before = self._objects.get(key) if again else None
                self._store("ADDED", obj, notify=False)
                if again and self._objects.get(key) != before:
                    self._tell("ADDED" if before is None else "MODIFIED", obj)
            resource_version = page.resource_version
        for key in [k for k in self._by_type.get(ident, ()) if k not in seen]:
            packed = self._objects.get(key)
            if packed is not None:
                self._store("DELETED", unpack(packed))
        return resource_version

    def _store(self, event_type: str, obj: Obj, *, notify: bool = True) -> None:
        meta = obj.get("metadata") or {}
        meta.pop("managedFields", None)  # read on demand (drift attribution, ignore rules)
        annotations = meta.get("annotations")
        if annotations:
            annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        key = _shared(key_of(obj))
        uid = str(meta.get("uid", ""))
        ident = (str(obj.get("apiVersion", "")), key.kind)
        if event_type == "DELETED":
            self._objects.pop(key, None)
            self._by_uid.pop(uid, None)
            self._by_namespace.get(key.namespace, set()).discard(key)
            self._by_type.get(ident, set()).discard(key)
        else:
            self._objects[key] = pack(obj)
            if uid:
                self._by_uid[uid] = key
            self._by_namespace[key.namespace].add(key)
            self._by_type[ident].add(key)
        for namespace, kind, noted in self._journals:
            if key.namespace == namespace and (key.group, key.kind) == kind:
                noted.add(key)
        if notify:
            self._tell(event_type, obj)

    def _tell(self, event_type: str, obj: Obj) -> None:
        try:
            self.on_change(event_type, obj)
        except Exception:  # a handler bug must not stop the watch
            log.exception("live cache change handler failed")
