"""The HTTP surface of Tether: JSON API, live streams, metrics, probes and the UI.

``create_app`` only wires parts together; every part is passed in (the
application service, registry service, token table, metrics registry,
readiness check) so the controller runs it against the live cache and tests
run it against fakes, with no globals.

Middleware, outermost first: the body-size limit (``limits``), the stream
token from the query, authentication (``auth.AuthMiddleware``), then the
routes. So nothing reads a body over the limit, and nothing parses a body
before its sender is known.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tether.api import errors, static
from tether.api.auth import Auth, AuthMiddleware, QueryTokenMiddleware, require_global
from tether.api.limits import API_BODY_LIMIT, WEBHOOK_BODY_LIMIT, BodyLimitMiddleware
from tether.api.mask import MaskedJSONResponse
from tether.api.routes_apps import router as apps_router
from tether.api.routes_clusters import router as clusters_router
from tether.api.routes_registry import RegistryService
from tether.api.routes_registry import router as registry_router
from tether.api.streams import router as stream_router
from tether.controller.service import AppService

ReadyCheck = Callable[[], bool]


class HeadersMiddleware:
    """Security headers on every response, ``no-store`` on the API's.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's
    BaseHTTPMiddleware reads the body in a task group, which would turn a
    body cut off at the size limit into a 500 instead of a 413.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = str(scope["path"]).startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if api:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    service: AppService,
    registries: RegistryService | None,
    auth: Auth,
    metrics: CollectorRegistry,
    *,
    ready: ReadyCheck | None = None,
    public_metrics: bool = False,
    web_dist: Path | None = None,
    stream_interval: float = 0.2,
    stream_reauth: float = 2.0,
    api_docs: bool = False,
    body_limit: int = API_BODY_LIMIT,
    webhook_body_limit: int = WEBHOOK_BODY_LIMIT,
) -> FastAPI:
    """The ASGI app. Serve it with uvicorn; nothing runs until a request arrives.

    ``ready`` answers /readyz (default: always ready). ``public_metrics``
    lets Prometheus scrape /metrics without a token; by default it needs a
    global token (any role), since metrics cover every project. ``api_docs``
    serves /openapi.json to callers with a token (default: not served at all;
    the /docs and /redoc pages are never served, they load scripts from a CDN).
    Open streams re-check their token every ``stream_reauth`` seconds.
    """
    app = FastAPI(
        title="Tether",
        summary="GitOps continuous delivery for Kubernetes",
        version="v1",
        default_response_class=MaskedJSONResponse,
        openapi_url="/openapi.json" if api_docs else None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.state.registries = registries
    app.state.auth = auth
    app.state.stream_interval = stream_interval
    app.state.stream_reauth = stream_reauth
    errors.install(app, not_found=static.ui_fallback(web_dist))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        if ready is None or ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"error": "not ready: the controller is still filling its cache"}, 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        if not public_metrics:
            await require_global(request)
        return Response(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    app.include_router(apps_router)
    app.include_router(registry_router)
    app.include_router(clusters_router)
    app.include_router(stream_router)
    app.add_middleware(HeadersMiddleware)
    protected = ("/api/v1/", "/openapi.json") + (() if public_metrics else ("/metrics",))
    app.add_middleware(AuthMiddleware, auth=auth, prefixes=protected)
    app.add_middleware(QueryTokenMiddleware)
    app.add_middleware(
        BodyLimitMiddleware, default=body_limit, limits=[("/api/webhook", webhook_body_limit)]
    )
    return app
