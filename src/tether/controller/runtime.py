"""The controller loop: watch Applications and live objects, queue, reconcile.

One process, one asyncio loop. A change reaches an app's queue from four
places: its Application object (spec, annotations, a requested operation), a
live object it manages or owns (drift and rollout progress), a Git webhook,
and its poll timer (default 60 s with jitter). The queue holds each app once,
so a burst of Pod events costs one reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tether.adapters import git
from tether.adapters.kube import KubeClient
from tether.controller import loops
from tether.controller.appsets import ApplicationSetReconciler
from tether.controller.images.automation import ImageAutomationReconciler
from tether.controller.live_cache import LiveCache
from tether.controller.notifications import Notifier
from tether.controller.reconciler import Reconciler, Settings
from tether.controller.refreshes import Refreshes
from tether.controller.registry.reconciler import RegistryCredentialReconciler
from tether.controller.sharding import ShardMember
from tether.controller.sharding.labels import ShardLabels
from tether.controller.sharding.member import AppShards
from tether.controller.sources.step import Sources
from tether.controller.workqueue import Priority, WorkQueue
from tether.engine import application as appmodel
from tether.engine.objects import Obj, ObjectKey, labels
from tether.engine.sharding import shard_of

log = logging.getLogger(__name__)


@dataclass
class Metrics:
    reconciles: int = 0
    reconcile_seconds: list[float] = field(default_factory=list)
    sync_results: dict[str, int] = field(default_factory=dict)


class Controller:
    def __init__(
        self,
        kube: KubeClient,
        *,
        settings: Settings | None = None,
        cache_dir: Path,
        helm_path: str | None = None,
        workers: int = 8,
        registry_credentials: bool = True,
        allow_local_repos: bool = False,
    ) -> None:
        self.kube = kube
        self.settings = settings or Settings()
        self.live = LiveCache(kube, self._on_change)
        self._shard_labels = ShardLabels(self.live, self.settings.app_namespace)
        repos = git.RepoCache(cache_dir / "repos")
        self.sources = Sources(
            repos,
            helm_path=helm_path,
            max_age=min(30.0, self.settings.poll_interval / 2),
            allow_local_repos=allow_local_repos,
        )
        self.reconciler = Reconciler(kube, self.live, self.sources, self.settings)
        self.workers = workers
        self.metrics = Metrics()
        self._queue = WorkQueue()
        self._fresh: dict[str, float] = {}  # app -> when Git was last asked to answer anew
        self._running: set[str] = set()
        self._inflight: dict[str, asyncio.Task[float | None]] = {}
        self._again: dict[str, Priority] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._seen: dict[str, tuple[object, ...]] = {}
        self._by_namespace: dict[str, set[str]] = {}  # destination -> apps
        self._destination: dict[str, str] = {}  # app -> destination
        self._listeners: list[Callable[[str], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._leading = False
        # Sharded replicas: the ring member that says which apps are this replica's.
        self.shard: ShardMember | None = None
        self.refreshes = Refreshes(
            kube,
            self.settings.app_namespace,
            self.sources,
            apps=self.apps,
            owns=self.owns,
            enqueue=self.enqueue,
        )
        self.ready = asyncio.Event()
        # Hook (registry credentials): keeps imagePullSecrets fresh in the same loop.
        self.manage_registry_credentials = registry_credentials
        self.registry_credentials = RegistryCredentialReconciler(
            kube,
            app_namespace=self.settings.app_namespace,
            poll_interval=min(5.0, self.settings.poll_interval),
        )
        self.appsets = ApplicationSetReconciler(
            kube,
            sources=self.sources,
            credentials=self.reconciler.repo_secrets.credentials,
            projects=self.reconciler.projects,
            app_namespace=self.settings.app_namespace,
            poll_interval=min(5.0, self.settings.poll_interval),
        )
        # Image automation commits new tags to Git and refreshes the apps on that repository.
        self.images = ImageAutomationReconciler(
            kube,
            workdir=cache_dir / "writeback",
            credentials=self.reconciler.repo_secrets.credentials,
            projects=self.reconciler.projects,
            app_namespace=self.settings.app_namespace,
            poll_interval=min(5.0, self.settings.poll_interval),
            on_commit=self.refresh_repo,
        )
        # Notifications: status transitions and image updates, queued, never awaited here.
        self.notifier = Notifier(
            kube,
            app_namespace=self.settings.app_namespace,
            apps=self.apps,
            poll_interval=min(5.0, self.settings.poll_interval),
        )
        self.images.listeners.append(self.notifier.image_updated)

    # -- lifecycle ----------------------------------------------------------
    async def start(self, *, lead: bool = True) -> None:
        """Fill the live cache and become ready; reconcile only with ``lead``.

        A follower (``lead=False``, leader election) serves reads from its
        cache and queues what changes, so ``lead()`` can start at once.
        """
        await self.kube.discover()
        await self.live.ensure_kinds([(appmodel.API_VERSION, appmodel.KIND), ("v1", "Namespace")])
        for app in self.apps():  # the initial list does not notify: queue what exists
            self._on_app("ADDED", app)
        if lead:
            await self.lead()
        else:  # one of several replicas (leader election, shards)
            self.refreshes.relay.start()
        self.ready.set()

    @property
    def leading(self) -> bool:
        """Whether this controller runs the reconcilers (always, without leader election)."""
        return self._leading

    async def lead(self) -> None:
        """Start the reconcilers: workers for every app (unless sharded: see ``reconcile_apps``),
        the registry credentials, ApplicationSets, image automation and notifications."""
        if self._leading:
            return
        self._leading = True
        if self.shard is None:
            self.reconcile_apps()
        if self.manage_registry_credentials:
            await self.registry_credentials.start()
        await self.appsets.start()
        await self.images.start()
        await self.notifier.start()

    async def follow(self) -> None:
        """Stop reconciling (the Lease was lost or is being released); reads keep working."""
        self._leading = False
        # Each loop bounds its own stop (``loops.PeriodicLoop``), so leadership
        # ends in bounded time even with a call stuck in a worker thread.
        await self.registry_credentials.stop()
        await self.appsets.stop()
        await self.images.stop()
        await self.notifier.stop()
        if self.shard is None:
            await self.stop_reconciling_apps()

    def reconcile_apps(self) -> None:
        """Start the workers; each app is reconciled when ``owns`` allows it."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"worker-{i}") for i in range(self.workers)
        ]
        for app in self.apps():
            self.enqueue(str(app["metadata"]["name"]), priority=Priority.ROUTINE)

    async def stop_reconciling_apps(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=loops.STOP_TIMEOUT)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def stop(self) -> None:
        await self.refreshes.relay.stop()
        await self.follow()
        await self.stop_reconciling_apps()
        await self.live.close()
        try:  # closing a remote cluster's client may wait on a dead connection
            async with asyncio.timeout(loops.STOP_TIMEOUT):
                await self.reconciler.clusters.close()
        except TimeoutError:
            log.warning("closing the remote clusters' clients did not finish in time")
        self.sources.close()

    async def run_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    # -- public -------------------------------------------------------------
    def owns(self, name: str, *, starting: bool = False) -> bool:
        """Whether this replica reconciles app ``name`` now (leading, or its shard holds it)."""
        if not self._tasks:
            return False
        if self.shard is None:
            return True
        app = self.app(name)
        if app is None:
            return False
        shard = shard_of(labels(app))
        return self.shard.take(name, shard) if starting else self.shard.owns(name, shard)

    def shard_apps(self) -> AppShards:
        """Every app's ``tether.dev/shard`` label by name, and which changed, for the ring."""
        return self._shard_labels()

    def gained(self, names: list[str]) -> None:
        """Apps the ring handed to this replica: reconcile them with a fresh look at Git."""
        now = time.monotonic()
        for name in names:
            self.enqueue(name, since=now, priority=Priority.ROUTINE)

    async def drop_unowned(self, timeout: float) -> None:
        """Stop the reconciles of apps this replica no longer owns: finished within
        ``timeout`` seconds, or cancelled."""
        tasks = [t for name, t in self._inflight.items() if not self.owns(name)]
        if not tasks:
            return
        if timeout > 0:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
        else:
            pending = set(tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)

    def apps(self) -> Iterator[Obj]:
        """Every Application, decoded one at a time (all at once is megabytes at 1,000)."""
        kind = (appmodel.GROUP, appmodel.KIND)
        for o in self.live.each_in_namespace(self.settings.app_namespace, kind=kind):
            if o.get("apiVersion") == appmodel.API_VERSION:
                yield o

    def app(self, name: str) -> Obj | None:
        return self.live.get(self._app_key(name))

    def has_app(self, name: str) -> bool:
        return self.live.has(self._app_key(name))

    def _app_key(self, name: str) -> ObjectKey:
        return ObjectKey(appmodel.GROUP, appmodel.KIND, self.settings.app_namespace, name)

    def enqueue(
        self,
        name: str,
        *,
        since: float | None = None,
        delay: float = 0.0,
        priority: Priority = Priority.URGENT,
    ) -> None:
        """Queue app ``name``; ``priority`` is URGENT (drift, an Application change or a
        request) unless the caller says it is a routine refresh (see workqueue).
        ``since`` (monotonic): the pass reads Git as of then or later (Sources.resolve)."""
        if since is not None:
            self._fresh[name] = max(since, self._fresh.get(name, since))
        if delay > 0:
            old = self._timers.pop(name, None)
            if old:
                old.cancel()
            self._timers[name] = asyncio.get_running_loop().call_later(
                delay, lambda: self.enqueue(name, priority=Priority.ROUTINE)
            )
            return
        if name in self._running:
            self._again[name] = max(priority, self._again.get(name, Priority.ROUTINE))
            return
        self._queue.put(name, priority)

    def refresh_repo(self, repo_url: str) -> list[str]:
        """A push arrived for ``repo_url``: refresh every app that uses it, now."""
        return self.refreshes.repo(repo_url)

    def add_listener(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[str], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    # -- events -------------------------------------------------------------
    def _notify(self, name: str) -> None:
        for listener in list(self._listeners):
            listener(name)

    def _on_change(self, event_type: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        if obj.get("kind") == appmodel.KIND and obj.get("apiVersion") == appmodel.API_VERSION:
            if meta.get("namespace") != self.settings.app_namespace:
                return
            self._on_app(event_type, obj)
            parent = labels(obj).get(appmodel.INSTANCE_LABEL)
            if parent and parent != meta.get("name") and self.has_app(parent):
                # A child app's status is part of its root's health.
                self.enqueue(parent, priority=Priority.ROUTINE)
            return
        owner = labels(obj).get(appmodel.INSTANCE_LABEL)
        if owner and self.has_app(owner):
            self.enqueue(owner)
            self._notify(owner)
            return
        for name in self._by_namespace.get(str(meta.get("namespace") or ""), ()):
            self.enqueue(name, priority=Priority.ROUTINE)  # not a managed object: no drift
            self._notify(name)

    def _on_app(self, event_type: str, app: Obj) -> None:
        meta = app["metadata"]
        name = str(meta["name"])
        dest = ((app.get("spec") or {}).get("destination") or {}).get("namespace", "")
        was = self._destination.pop(name, None)
        if was is not None:
            self._by_namespace.get(was, set()).discard(name)
            if not self._by_namespace.get(was):
                self._by_namespace.pop(was, None)
        if event_type == "DELETED":
            self._seen.pop(name, None)
            self.refreshes.forget(name)
            self.sources.forget(name)
            self.reconciler.memory.pop(name, None)
            self.reconciler.dry_runs.forget_owner(name)
            timer = self._timers.pop(name, None)
            if timer:
                timer.cancel()
            self._notify(name)
            return
        if dest:
            self._by_namespace.setdefault(dest, set()).add(name)
            self._destination[name] = dest
        # Only the Application's own changes can be a transition worth a notification.
        self.notifier.observe(app)
        signature = (
            meta.get("generation"),
            repr(meta.get("annotations")),
            repr(app.get("operation")),
        )
        self._notify(name)
        if self._seen.get(name) != signature:
            previous = self._seen.get(name)
            self._seen[name] = signature
            # A new refresh request (perhaps a user's, sent through another replica):
            # Git is asked anew unless a listing since the request answers.
            asked = self.refreshes.requested(app, first_sight=previous is None)
            refresh = (meta.get("annotations") or {}).get(appmodel.REFRESH_ANNOTATION)
            since = (
                time.monotonic()
                if refresh or app.get("operation") is not None or previous is None
                else None
            )
            # Neither generation nor operation changed, only a new refresh request.
            routine = (
                asked is not None
                and previous is not None
                and (previous[0], previous[2]) == (signature[0], signature[2])
            )
            self.enqueue(
                name,
                since=since if asked is None else asked,
                priority=Priority.ROUTINE if routine else Priority.URGENT,
            )

    # -- workers ------------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            name = await self._queue.get()
            app = self.app(name)
            if app is None or not self.owns(name, starting=True):
                continue  # another replica's (sharded): it reconciles the app
            self._running.add(name)
            since = self._fresh.pop(name, None)
            started = time.perf_counter()
            # Its own task, so a replica losing the app can stop this one reconcile.
            task = asyncio.create_task(
                self.reconciler.reconcile(app, since=since), name=f"reconcile-{name}"
            )
            self._inflight[name] = task
            try:
                delay = await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the worker itself stops
                log.info("reconcile of %s stopped: the app moved to another replica", name)
                delay = None
            except Exception:
                log.exception("reconcile of %s failed", name)
                delay = 10.0
            finally:
                self._running.discard(name)
                self._inflight.pop(name, None)
            self.metrics.reconciles += 1
            self.metrics.reconcile_seconds.append(time.perf_counter() - started)
            if len(self.metrics.reconcile_seconds) > 10000:
                del self.metrics.reconcile_seconds[:5000]
            self._notify(name)
            if name in self._again:
                self.enqueue(name, priority=self._again.pop(name))
            elif delay is not None:
                self.enqueue(name, delay=delay)
