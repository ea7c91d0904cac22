"""Deliver notifications without ever slowing a reconcile.

The controller calls ``observe(app)`` whenever an app may have changed (a
cheap comparison of two statuses held in memory) and image automation calls
``image_updated``. Notices for subscribed services go into a bounded queue;
when it is full the notice is dropped and counted, so a dead receiver can
never hold up the loop or grow memory. Delivery workers POST each notice;
a failure is retried with exponential backoff by re-queuing it later (a
worker never sleeps on a retry, so one failing receiver does not delay the
others) and, once the attempts are spent, recorded as a Warning Event
``NotificationFailed`` on the app. Repeats of one occurrence (same app,
trigger, service and key) are delivered once.

Service definitions are read from the ConfigMap and Secret
``tether-notifications`` of the app namespace, at most every few seconds.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from tether.adapters.kube import ApiError, KubeClient
from tether.adapters.notify import commit_status as status_sink
from tether.adapters.notify import webhook
from tether.controller import events
from tether.controller.images.automation import ImageUpdate
from tether.controller.loops import STOP_TIMEOUT
from tether.engine import commit_status, forge
from tether.engine import notification_templates as templates
from tether.engine import notifications as model
from tether.engine.appsets.template import TemplateError
from tether.engine.credentials import comparable_url
from tether.engine.objects import Obj

log = logging.getLogger(__name__)

SERVICES_TTL = 5.0
REGISTRY_CREDENTIAL_API = "tether.dev/v1alpha1"
DEDUP_SIZE = 10_000
Sink = model.Service | commit_status.StatusConfig


@dataclass
class NotifierMetrics:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0
    rate_limited: int = 0
    by_trigger: dict[str, int] = field(default_factory=dict)


@dataclass
class _Item:
    notice: model.Notice
    app: Obj
    service: str
    recipient: str
    attempt: int = 1
    template: str | None = None  # None: not chosen yet; "": the built-in message


class Notifier:
    """Runs inside the Controller's loop: ``await start()`` ... ``await stop()``."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        app_namespace: str = "tether",
        apps: Callable[[], Iterable[Obj]] = list,
        queue_size: int = 1000,
        workers: int = 2,
        attempts: int = 4,
        base_delay: float = 1.0,
        timeout: float = 5.0,
        per_minute: int = 60,
        poll_interval: float = 5.0,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.kube = kube
        self.stop_timeout = stop_timeout
        self.app_namespace = app_namespace
        self.apps = apps
        self.attempts = attempts
        self.base_delay = base_delay
        self.timeout = timeout
        self.per_minute = per_minute
        self.poll_interval = poll_interval
        self._credentials: dict[str, dict[str, object]] = {}
        self._recent: dict[str, deque[float]] = {}
        self.workers = workers
        self.metrics = NotifierMetrics()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=queue_size)
        self._statuses: dict[str, dict[str, object]] = {}
        self._degraded: set[str] = set()
        self._seen: OrderedDict[tuple[str, str, str, str], None] = OrderedDict()
        self._services: tuple[float, dict[str, Sink]] = (-1e9, {})
        self._catalog = templates.Catalog()
        self._catalog_problems: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._client: httpx.AsyncClient | None = None

    # -- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"notify-{i}") for i in range(self.workers)
        ]
        self._tasks.append(asyncio.create_task(self._watch_credentials(), name="notify-regcreds"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            # A delivery stuck past its cancellation must not hold up leadership teardown.
            done, stuck = await asyncio.wait(tasks, timeout=self.stop_timeout)
            if stuck:
                log.warning(
                    "%d notification task(s) did not stop within %.0fs; left behind",
                    len(stuck),
                    self.stop_timeout,
                )
            for task in done:
                with contextlib.suppress(asyncio.CancelledError):
                    task.result()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        # Made on the first delivery: its TLS context (the CA bundle) is about a MiB
        # that a controller without notification services never needs.
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    # -- producers (never block) --------------------------------------------
    def observe(self, app: Obj | None) -> None:
        """Compare ``app``'s status with the last one seen and queue what changed."""
        if app is None:
            return
        name = str(app["metadata"]["name"])
        status = dict(app.get("status") or {})
        previous = self._statuses.get(name)
        stored = _compared(status)
        if previous is not None and not (status.get("operationState") or {}).get("finishedAt"):
            # a sync is stored Running before it applies: keep comparing with the last
            # finished one, or a drift revert (same revision as that one) goes unseen
            stored["operationState"] = previous.get("operationState")
        self._statuses[name] = stored
        health = (status.get("health") or {}).get("status")
        was_degraded = name in self._degraded
        if health == "Degraded":
            self._degraded.add(name)
        elif health == "Healthy":
            self._degraded.discard(name)
        if previous is None:  # first sight (a restart): nothing is news yet
            return
        found = model.transitions(name, self.app_namespace, previous, status, degraded=was_degraded)
        for notice in found:
            self.notify(notice, app)

    def forget(self, name: str) -> None:
        self._statuses.pop(name, None)
        self._degraded.discard(name)

    def image_updated(self, update: ImageUpdate) -> None:
        """Tell every app on the updated repository (and branch) that subscribed."""
        want = comparable_url(update.repo_url)
        for app in self.apps():
            source = (app.get("spec") or {}).get("source") or {}
            if comparable_url(str(source.get("repoURL", ""))) != want:
                continue
            message = (
                f"{update.image} {update.old_tag or '?'} -> {update.tag} committed to "
                f"{update.branch} as {update.sha[:12]} by ImagePolicy "
                f"{update.namespace}/{update.policy}"
            )
            notice = model.Notice(
                model.IMAGE_UPDATED,
                str(app["metadata"]["name"]),
                self.app_namespace,
                message,
                f"image:{update.sha}",
                update.sha,
                {"image": update.image, "tag": update.tag, "policy": update.policy},
            )
            self.notify(notice, app)

    async def _watch_credentials(self) -> None:
        """RegistryCredentials are few and cluster-scoped: a list every few seconds."""
        while True:
            try:
                api = await self.kube.resource_for(REGISTRY_CREDENTIAL_API, "RegistryCredential")
                items, _ = await self.kube.list(api)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the API away, or the CRD not installed: try again later
                log.debug("listing RegistryCredentials for notifications failed: %s", exc)
                items = None
            for obj in items or []:
                name = str(obj["metadata"]["name"])
                status = dict(obj.get("status") or {})
                previous = self._credentials.get(name)
                self._credentials[name] = status
                if previous is not None:
                    for notice in model.credential_transitions(name, previous, status):
                        self.notify(notice, obj)
            await asyncio.sleep(self.poll_interval)

    def notify(self, notice: model.Notice, app: Obj) -> None:
        """Queue ``notice`` for each service ``app`` (any object with the annotations) names."""
        if not self._tasks:  # a follower keeps statuses current but the leader delivers
            return
        annotations = (app.get("metadata") or {}).get("annotations") or {}
        for sub in model.subscriptions(annotations):
            if sub.trigger != notice.trigger:
                continue
            for recipient in sub.recipients or ("",):
                key = (notice.app, notice.trigger, f"{sub.service}/{recipient}", notice.key)
                if key in self._seen:
                    continue
                self._seen[key] = None
                if len(self._seen) > DEDUP_SIZE:
                    self._seen.popitem(last=False)
                self._put(_Item(notice, app, sub.service, recipient))

    def _put(self, item: _Item) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.metrics.dropped += 1
            log.warning(
                "notification queue full; dropped %s for %s", item.notice.trigger, item.notice.app
            )

    # -- delivery -----------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._deliver(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification delivery failed")

    async def _deliver(self, item: _Item) -> None:
        services = await self._load_services()
        service = services.get(item.service)
        if service is None:
            await self._failed(
                item, f"service {item.service!r} is not defined in ConfigMap {model.CONFIGMAP}"
            )
            return
        if item.attempt == 1 and not self._allowed(item.service):
            self.metrics.rate_limited += 1
            log.warning(
                "notifications to %s over %d a minute; dropped", item.service, self.per_minute
            )
            return
        client = self._http()
        if isinstance(service, commit_status.StatusConfig):
            try:
                request = commit_status.request(item.notice, service, item.app)
            except forge.ForgeError as exc:
                await self._failed(item, f"{item.notice.trigger} to {item.service}: {exc}")
                return
            if request is None:  # a trigger that sets no status (e.g. image updated)
                return
            result = await status_sink.send(client, request, service.token)
        else:
            try:
                rendered = self._render(item, service)
            except TemplateError as exc:
                await self._failed(item, f"{item.notice.trigger} to {item.service}: {exc}")
                return
            body = model.payload(item.notice, service, item.recipient, rendered)
            headers = dict(service.headers)
            if service.signing_secret:
                headers[model.SIGNATURE_HEADER] = model.signature(service.signing_secret, body)
            headers["X-Tether-Trigger"] = item.notice.trigger
            url = (
                service.url.rstrip("/") + rendered.path
                if rendered and rendered.path
                else service.url
            )
            result = await webhook.post(client, url, body, headers)
        if result.ok:
            self.metrics.sent += 1
            trig = item.notice.trigger
            self.metrics.by_trigger[trig] = self.metrics.by_trigger.get(trig, 0) + 1
            return
        if item.attempt < self.attempts:
            self.metrics.retried += 1
            delay = model.backoff(item.attempt, self.base_delay)
            item.attempt += 1
            loop = asyncio.get_running_loop()
            timer: asyncio.TimerHandle | None = None

            def again() -> None:
                if timer is not None:
                    self._timers.discard(timer)
                self._put(item)

            timer = loop.call_later(delay, again)
            self._timers.add(timer)
            return
        await self._failed(
            item,
            f"{item.notice.trigger} to {item.service} failed after {item.attempt} attempts: "
            f"{result.error}",
        )

    def _render(self, item: _Item, service: model.Service) -> templates.Rendered | None:
        """The custom template for this delivery, or None for the built-in message.

        The first attempt picks the templates the trigger sends (as the
        ConfigMap says now) and queues one delivery for each beyond the first.
        """
        if item.template is None:
            names = self._catalog.templates_for(item.notice.trigger)
            item.template = names[0] if names else ""
            for name in names[1:]:
                self._put(dataclasses.replace(item, template=name))
        if not item.template:
            return None
        return templates.render_named(
            self._catalog,
            item.template,
            service=service.name,
            service_type=service.kind,
            obj=item.app,
            trigger=item.notice.trigger,
            message=item.notice.message,
            revision=item.notice.revision,
            details=item.notice.details,
            recipient=item.recipient,
        )

    def _allowed(self, service: str) -> bool:
        """At most ``per_minute`` first attempts per service in any 60 s (a storm guard)."""
        now = time.monotonic()
        recent = self._recent.setdefault(service, deque())
        while recent and now - recent[0] > 60:
            recent.popleft()
        if len(recent) >= self.per_minute:
            return False
        recent.append(now)
        return True

    async def _failed(self, item: _Item, message: str) -> None:
        self.metrics.failed += 1
        log.warning("notification for %s: %s", item.notice.app, message)
        try:
            await events.record(self.kube, item.app, "NotificationFailed", message, warning=True)
        except ApiError as exc:
            log.warning("could not record NotificationFailed: %s", exc)

    async def _load_services(self) -> dict[str, Sink]:
        now = time.monotonic()
        if now - self._services[0] < SERVICES_TTL:
            return self._services[1]
        try:
            cm = await self.kube.get_or_none("v1", "ConfigMap", model.CONFIGMAP, self.app_namespace)
            secret = await self.kube.get_or_none("v1", "Secret", model.SECRET, self.app_namespace)
        except ApiError:
            return self._services[1]
        data = {str(k): str(v) for k, v in ((cm or {}).get("data") or {}).items()}
        decoded = _decoded(secret)
        services: dict[str, Sink] = {}
        hooks, problems = model.parse_services(data, decoded)
        statuses, more = commit_status.parse_services(data, decoded)
        services.update(hooks)
        services.update(statuses)
        self._catalog, found = templates.parse_catalog(data)
        if found != self._catalog_problems:  # said once per change, not every few seconds
            for problem in found:
                log.warning("notifications: %s", problem)
        self._catalog_problems = found
        for problem in problems + more:
            log.warning("notifications: %s", problem)
        self._services = (now, services)
        return services


def _decoded(secret: Obj | None) -> dict[str, str]:
    out = {}
    for key, value in ((secret or {}).get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value)).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue
    return out


class NotifierCollector(Collector):
    """``tether_notifications_total{result}`` for /metrics."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def collect(self) -> Iterator[CounterMetricFamily]:
        m = self.notifier.metrics
        family = CounterMetricFamily(
            "tether_notifications", "Notifications by result", labels=["result"]
        )
        for result, value in (
            ("sent", m.sent),
            ("failed", m.failed),
            ("retried", m.retried),
            ("dropped", m.dropped),
            ("rate_limited", m.rate_limited),
        ):
            family.add_metric([result], value)
        yield family


def _compared(status: dict[str, Any]) -> dict[str, object]:
    """The fields of a status ``model.transitions`` compares with the next one: kept per
    app for the life of the process, a whole status would double what the controller
    holds for each."""
    op = status.get("operationState") or {}
    return {
        "operationState": {k: op[k] for k in ("finishedAt", "phase", "revision") if k in op},
        "health": {"status": (status.get("health") or {}).get("status")},
    }
