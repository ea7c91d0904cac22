"""A push one replica hears, handed to the other replicas with one write.

A Git webhook reaches one replica (the Service picks it). That replica
refreshes the apps it reconciles itself and records the push on one Lease in
the app namespace, ``tether-pushes``: an annotation per repository holding its
URL, the push's wall-clock time and the writer. Every replica watches that
Lease and refreshes its own apps of the repository, asking Git anew only when
its last listing started before the push (``Sources.resolve``). So a push costs
one write however many apps and replicas there are; annotating each app the
replica does not own cost a write per app and a watch event per write on every
replica (Argo CD's server annotates every app of the repository; Flux writes
one annotation on the GitRepository).

A Lease rather than a ConfigMap: the controller's Role in the app namespace
already writes Leases (leader election, shard membership) and nothing else.
A replica that starts takes the pushes recorded before it as seen: the apps it
gains are reconciled with a fresh look at Git anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from tether.adapters.kube import ApiError, ApiResource, Conflict, KubeClient
from tether.adapters.kube.client import WatchEvent
from tether.adapters.kube.reflector import Reflector
from tether.engine.credentials import comparable_url
from tether.engine.objects import Obj

log = logging.getLogger(__name__)
API_VERSION = "coordination.k8s.io/v1"
KIND = "Lease"
LEASE = "tether-pushes"
PREFIX = "push.tether.dev/"
WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class Push:
    url: str
    at: float  # wall clock, epoch seconds
    by: str  # the writing replica


def key_for(url: str) -> str:
    """The annotation of a repository: every spelling of one URL shares it."""
    return PREFIX + hashlib.sha256(comparable_url(url).encode()).hexdigest()[:24]


def pushes_of(lease: Obj) -> dict[str, Push]:
    """The pushes a Lease records, by annotation; malformed entries are skipped."""
    found = {}
    annotations = (lease.get("metadata") or {}).get("annotations") or {}
    for key, value in annotations.items():
        if not str(key).startswith(PREFIX):
            continue
        try:
            entry = json.loads(value)
            found[str(key)] = Push(str(entry["url"]), float(entry["at"]), str(entry["by"]))
        except (ValueError, TypeError, KeyError):
            continue
    return found


class PushRelay:
    def __init__(self, kube: KubeClient, namespace: str, on_push: Callable[[Push], None]) -> None:
        self.kube = kube
        self.namespace = namespace
        self.on_push = on_push
        self.identity = secrets.token_hex(6)
        self._seen: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def announce(self, url: str, at: float) -> None:
        """Record a push of ``url`` at ``at`` (wall clock) for the other replicas."""
        key = key_for(url)
        value = json.dumps({"url": url, "at": at, "by": self.identity})
        for _ in range(WRITE_ATTEMPTS):
            try:
                lease = await self.kube.get_or_none(API_VERSION, KIND, LEASE, self.namespace)
                if lease is None:
                    await self.kube.create(_lease(self.namespace, {key: value}))
                    return
                known = pushes_of(lease).get(key)
                if known is not None and known.at >= at:
                    return  # a later push is recorded already
                lease["metadata"].setdefault("annotations", {})[key] = value
                await self.kube.replace(lease)
                return
            except Conflict:
                continue  # written meanwhile (another push, another replica): read again
            except ApiError as exc:
                log.warning("could not hand the push of %s to the other replicas: %s", url, exc)
                return
        log.warning("could not hand the push of %s on: the Lease kept changing", url)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="push-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        selector = f"metadata.name={LEASE}"
        api: ApiResource | None = None
        listed = False

        async def relist() -> str:
            nonlocal api, listed
            api = await self.kube.resource_for(API_VERSION, KIND)
            items, resource_version = await self.kube.list(
                api, self.namespace, field_selector=selector
            )
            for lease in items:
                # The first listing is what was pushed before this replica started:
                # its apps are compared at their first pass anyway.
                self._observe(lease, tell=listed)
            listed = True
            return resource_version

        def watch(version: str) -> AsyncIterator[WatchEvent]:
            assert api is not None  # the Reflector lists before it watches
            return self.kube.watch(api, version, self.namespace, field_selector=selector)

        def changed(event: WatchEvent) -> None:
            if event.type in ("ADDED", "MODIFIED"):
                self._observe(event.object, tell=True)

        await Reflector(
            what="pushed repositories",
            relist=relist,
            watch=watch,
            on_event=changed,
        ).run()

    def _observe(self, lease: Obj, *, tell: bool) -> None:
        for key, push in pushes_of(lease).items():
            if push.at <= self._seen.get(key, 0.0):
                continue
            self._seen[key] = push.at
            if tell and push.by != self.identity:
                try:
                    self.on_push(push)
                except Exception:  # a handler bug must not stop the watch
                    log.exception("handling the push of %s failed", push.url)


def _lease(namespace: str, annotations: dict[str, str]) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": LEASE,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "tether"},
            "annotations": annotations,
        },
    }
