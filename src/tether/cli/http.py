"""Serve the API, the UI, the Git webhook and /metrics from the controller process.

One process keeps one live cache: the API answers from it and its streams
see a change as soon as the controller does, which is what makes the UI's
tree update within a second without polling the API server.

The token table follows the token Secret with a watch (``follow_tokens``), so
``tether token revoke`` takes effect as soon as the API server reports it;
while the watch is down, the Secret is re-read at most once a second.
With ``tls`` the server speaks only HTTPS.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from tether.adapters.kube import ApiError
from tether.api.app import create_app
from tether.api.auth import Auth, TokenTable, tokens_from_secret
from tether.controller import sharding
from tether.controller.images.automation import ImageAutomationCollector
from tether.controller.notifications import NotifierCollector
from tether.controller.registry.service import RegistryApi
from tether.controller.runtime import Controller
from tether.controller.service import AppService
from tether.engine import webhook
from tether.engine.images import webhook as image_webhook
from tether.engine.redact import strip_userinfo

log = logging.getLogger(__name__)
TOKENS_SECRET = "tether-api-tokens"
WEBHOOK_SECRET = "tether-webhook"


class ControllerCollector(Collector):
    """Prometheus metrics read from the controller at scrape time (no hot-path cost)."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def collect(self) -> Iterator[Any]:
        c = self.controller
        durations = c.metrics.reconcile_seconds
        summary = SummaryMetricFamily(
            "tether_reconcile_duration_seconds", "Time to reconcile one Application"
        )
        summary.add_metric([], count_value=c.metrics.reconciles, sum_value=sum(durations))
        yield summary
        syncs = CounterMetricFamily("tether_syncs", "Sync operations run")
        syncs.add_metric([], c.reconciler.sync_count)
        yield syncs
        stats = c.sources.stats
        renders = CounterMetricFamily("tether_renders", "Manifest renders", labels=["result"])
        renders.add_metric(["rendered"], stats.renders)
        renders.add_metric(["reused"], stats.reuses)
        yield renders
        fetch = CounterMetricFamily("tether_git_resolves", "Git revision resolutions")
        fetch.add_metric([], stats.resolves)
        yield fetch
        errors = CounterMetricFamily("tether_git_fetch_errors", "Git fetch errors")
        errors.add_metric([], stats.fetch_errors)
        yield errors
        depth = GaugeMetricFamily("tether_queue_depth", "Applications waiting to reconcile")
        depth.add_metric([], c.queue_depth)
        yield depth
        apps = GaugeMetricFamily(
            "tether_applications", "Applications by sync and health", labels=["sync", "health"]
        )
        counts: dict[tuple[str, str], int] = {}
        for app in c.apps():
            st = app.get("status") or {}
            key = (
                st.get("sync", {}).get("status", "Unknown"),
                st.get("health", {}).get("status", "Unknown"),
            )
            counts[key] = counts.get(key, 0) + 1
        for (s, h), n in counts.items():
            apps.add_metric([s, h], n)
        yield apps
        cache = GaugeMetricFamily("tether_live_cache_objects", "Objects in the live cache")
        cache.add_metric([], len(c.live))
        yield cache
        sent = CounterMetricFamily(
            "tether_kube_requests",
            "Requests to the home cluster's API server",
            labels=["verb", "resource", "dry_run"],
        )
        for (verb, resource, dry_run), n in sorted(c.kube.requests.snapshot().items()):
            sent.add_metric([verb, resource, "All" if dry_run else ""], n)
        yield sent
        leading = GaugeMetricFamily("tether_leader", "1 on the replica that reconciles")
        leading.add_metric([], 1.0 if c.leading else 0.0)
        yield leading
        # Scraped on the controller's own loop; a steady climb here is a task leak.
        try:
            running = len(asyncio.all_tasks())
        except RuntimeError:  # collected off the loop (a test): nothing to count
            return
        tasks = GaugeMetricFamily("tether_asyncio_tasks", "asyncio tasks alive in the controller")
        tasks.add_metric([], running)
        yield tasks


async def _secret_data(controller: Controller, name: str) -> dict[str, Any] | None:
    try:
        return await controller.kube.get("v1", "Secret", name, controller.settings.app_namespace)
    except ApiError:
        return None


@dataclass(frozen=True)
class HttpOptions:
    """How `tether controller --listen` serves: TLS files (both or neither) and /openapi.json."""

    tls_cert: str | None = None
    tls_key: str | None = None
    api_docs: bool = False

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


async def follow_tokens(controller: Controller, auth: Auth) -> None:
    """Keeps ``auth`` equal to the token Secret: list, then watch; relist when the watch ends."""
    kube = controller.kube
    namespace = controller.settings.app_namespace
    while True:
        try:
            api = await kube.resource_for("v1", "Secret")
            items, version = await kube.list(
                api, namespace, field_selector=f"metadata.name={TOKENS_SECRET}"
            )
            auth.replace(tokens_from_secret(items[0]) if items else {})
            async for change in kube.watch(api, version, namespace, timeout_seconds=240):
                meta = change.object.get("metadata") or {}
                if change.type == "BOOKMARK" or meta.get("name") != TOKENS_SECRET:
                    continue
                gone = change.type == "DELETED"
                auth.replace({} if gone else tokens_from_secret(change.object))
        except asyncio.CancelledError:
            auth.unfollowed()
            raise
        except Exception as exc:  # the API server may be away; re-read per request meanwhile
            auth.unfollowed()
            log.warning("watching the token Secret failed (%s); retrying", type(exc).__name__)
            await asyncio.sleep(2)


async def serve_http(
    listen: str,
    controller: Controller,
    service: AppService,
    options: HttpOptions | None = None,
) -> None:
    options = options or HttpOptions()
    host, _, port = listen.rpartition(":")

    async def load_tokens() -> TokenTable:
        secret = await _secret_data(controller, TOKENS_SECRET)
        return tokens_from_secret(secret) if secret else {}

    auth = Auth(loader=load_tokens)
    await auth.reload()
    metrics = CollectorRegistry()
    metrics.register(ControllerCollector(controller))
    metrics.register(controller.registry_credentials.metrics_registry)
    metrics.register(NotifierCollector(controller.notifier))
    metrics.register(ImageAutomationCollector(controller.images))
    if controller.shard is not None:
        metrics.register(sharding.ShardCollector(controller.shard))
    app = create_app(
        service,
        RegistryApi(controller.kube),
        auth,
        metrics,
        ready=controller.ready.is_set,
        api_docs=options.api_docs,
    )

    async def webhook_secret() -> str:
        secret = os.environ.get("TETHER_WEBHOOK_SECRET", "")
        if not secret:
            stored = await _secret_data(controller, WEBHOOK_SECRET)
            raw = ((stored or {}).get("data") or {}).get("secret", "")
            secret = base64.b64decode(raw).decode() if raw else ""
        return secret

    @app.post("/api/webhook", tags=["webhook"])
    async def git_webhook(request: Request) -> JSONResponse:
        """Git push webhooks (GitHub, GitLab, Gitea, Bitbucket), verified by their secret."""
        secret = await webhook_secret()
        body = await request.body()
        try:
            push = webhook.parse(request.headers, body, secret)
        except webhook.WebhookError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        if push is None:
            return JSONResponse({"refreshed": [], "message": "not a push event; ignored"})
        refreshed: list[str] = []
        for url in push.urls:
            refreshed += [n for n in controller.refresh_repo(url) if n not in refreshed]
        where = [strip_userinfo(u) for u in push.urls[:1]]
        log.info("%s push to %s refreshed %d apps", push.provider, where, len(refreshed))
        return JSONResponse({"refreshed": refreshed})

    @app.post("/api/webhook/registry", tags=["webhook"])
    async def registry_webhook(request: Request) -> JSONResponse:
        """Registry push notifications: the image policies of the repository scan now."""
        try:
            pushed = image_webhook.parse(
                request.headers, await request.body(), await webhook_secret()
            )
        except webhook.WebhookError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        for image in pushed:
            controller.images.registry_push(image)
        return JSONResponse({"scanning": pushed})

    # The UI's catch-all route must stay last.
    app.router.routes.sort(
        key=lambda r: getattr(r, "path", "") in ("/{path:path}", "/{full_path:path}")
    )
    config = uvicorn.Config(
        app,
        host=host or "127.0.0.1",
        port=int(port),
        log_level="warning",
        lifespan="off",
        ssl_certfile=options.tls_cert,
        ssl_keyfile=options.tls_key,
        h11_max_incomplete_event_size=16 * 1024,
    )
    server = uvicorn.Server(config)
    log.info("API and UI on %s://%s:%s", options.scheme, host or "127.0.0.1", port)
    watcher = asyncio.create_task(follow_tokens(controller, auth), name="token-watch")
    try:
        await server.serve()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
