"""Server-sent event streams that keep the UI live without polling.

The controller's ``AppService.subscribe()`` queue yields an app name on every
change; during a rollout that can be hundreds a second. Browsers only need
the latest picture, so changes are coalesced: at most one event per
``interval`` (0.2 s: five a second), carrying the whole current state rather
than a delta, which also makes a missed event harmless.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from tether.api.auth import Reader
from tether.api.mask import mask
from tether.api.summary import filter_summaries, summarize
from tether.controller.service import AppNotFound, AppService

router = APIRouter(prefix="/api/v1/stream", tags=["streams"])


async def coalesced(queue: asyncio.Queue[str], interval: float) -> AsyncIterator[set[str]]:
    """Batches of changed app names, no more often than once per ``interval`` seconds."""
    loop = asyncio.get_running_loop()
    last = 0.0
    while True:
        names = {await queue.get()}
        wait = last + interval - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        while not queue.empty():
            names.add(queue.get_nowait())
        last = loop.time()
        yield names


def event(name: str, data: Any) -> dict[str, str]:
    return {"event": name, "data": json.dumps(mask(data), separators=(",", ":"))}


async def app_list(service: AppService) -> list[dict[str, Any]]:
    return filter_summaries(summarize(a) for a in await service.list_apps())


async def app_tree(service: AppService, name: str) -> dict[str, Any]:
    app = await service.get_app(name)
    return {"app": summarize(app), "tree": await service.tree(name)}


def _settings(request: Request) -> tuple[AppService, float]:
    return request.app.state.service, float(request.app.state.stream_interval)


@router.get("/apps")
async def stream_apps(request: Request, _: Reader) -> EventSourceResponse:
    """Event ``apps``: the summary list, at connect and after every change."""
    service, interval = _settings(request)
    queue = service.subscribe()
    try:
        first = await app_list(service)
    except BaseException:
        service.unsubscribe(queue)
        raise

    async def events() -> AsyncIterator[dict[str, str]]:
        try:
            last = event("apps", first)
            yield last
            async for _names in coalesced(queue, interval):
                latest = event("apps", await app_list(service))
                if latest != last:  # tree-only changes leave the list as it was
                    last = latest
                    yield latest
        finally:
            service.unsubscribe(queue)

    return EventSourceResponse(events(), ping=15)


@router.get("/apps/{name}/tree")
async def stream_tree(name: str, request: Request, _: Reader) -> EventSourceResponse:
    """Event ``tree``: ``{app: summary, tree}`` at connect and whenever this app changes."""
    service, interval = _settings(request)
    queue = service.subscribe()
    try:
        first = await app_tree(service, name)
    except BaseException:
        service.unsubscribe(queue)
        raise

    async def events() -> AsyncIterator[dict[str, str]]:
        try:
            last = event("tree", first)
            yield last
            async for names in coalesced(queue, interval):
                if name not in names:
                    continue
                try:
                    latest = event("tree", await app_tree(service, name))
                except AppNotFound:
                    yield event("gone", {"error": f"application {name!r} was deleted"})
                    return
                if latest != last:
                    last = latest
                    yield latest
        finally:
            service.unsubscribe(queue)

    return EventSourceResponse(events(), ping=15)
