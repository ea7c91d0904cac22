"""Server-sent event streams that keep the UI live without polling.

The controller's ``AppService.subscribe()`` queue yields an app name on every
change; during a rollout that can be hundreds a second. Browsers only need
the latest picture, so changes are coalesced: at most one event per
``interval`` (0.2 s: five a second), carrying the whole current state rather
than a delta, which also makes a missed event harmless.

A stream outlives the request that opened it, so its token is checked again
every ``reauth`` seconds (and before every event): when the token is revoked
(or no longer sees the app) the stream sends ``unauthorized`` and closes.
Every event is shown as its caller may see it (``mask.view``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from tether.api.auth import Auth, Principal, Reader, bearer_token
from tether.api.mask import view
from tether.api.scope import AppName, sees, visible
from tether.api.summary import filter_summaries, summarize
from tether.controller.service import AppNotFound, AppService

router = APIRouter(prefix="/api/v1/stream", tags=["streams"])


async def coalesced(
    queue: asyncio.Queue[str], interval: float, idle: float | None = None
) -> AsyncIterator[set[str]]:
    """Batches of changed app names, no more often than once per ``interval`` seconds.

    With ``idle``, an empty batch comes after ``idle`` quiet seconds, so the
    consumer gets a turn (to re-check its token) even when nothing changes.
    """
    loop = asyncio.get_running_loop()
    last = 0.0
    while True:
        try:
            async with asyncio.timeout(idle):
                names = {await queue.get()}
        except TimeoutError:
            yield set()
            continue
        wait = last + interval - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        while not queue.empty():
            names.add(queue.get_nowait())
        last = loop.time()
        yield names


def event(name: str, data: Any, principal: Principal | None = None) -> dict[str, str]:
    return {"event": name, "data": json.dumps(view(data, principal), separators=(",", ":"))}


class Guard:
    """Re-checks a stream's token: the principal must still exist, unchanged."""

    def __init__(self, request: Request, principal: Principal) -> None:
        self.auth: Auth = request.app.state.auth
        self.token = bearer_token(request)
        self.principal = principal

    async def allowed(self) -> bool:
        return await self.auth.authenticate(self.token) == self.principal

    def refused(self) -> dict[str, str]:
        return event("unauthorized", {"error": "the token was revoked or changed; sign in again"})


async def app_list(service: AppService, who: Principal) -> list[dict[str, Any]]:
    return filter_summaries(summarize(a) for a in visible(who, await service.list_apps()))


async def app_tree(service: AppService, name: str, who: Principal) -> dict[str, Any]:
    app = await service.get_app(name)
    if not sees(who, app):
        raise AppNotFound(name)
    return {"app": summarize(app), "tree": await service.tree(name)}


def _settings(request: Request) -> tuple[AppService, float, float]:
    state = request.app.state
    return state.service, float(state.stream_interval), float(state.stream_reauth)


@router.get("/apps")
async def stream_apps(request: Request, who: Reader) -> EventSourceResponse:
    """Event ``apps``: the summary list, at connect and after every change."""
    service, interval, reauth = _settings(request)
    guard = Guard(request, who)
    queue = service.subscribe()
    try:
        first = await app_list(service, who)
    except BaseException:
        service.unsubscribe(queue)
        raise

    async def events() -> AsyncIterator[dict[str, str]]:
        try:
            last = event("apps", first, who)
            yield last
            async for _names in coalesced(queue, interval, reauth):
                if not await guard.allowed():
                    yield guard.refused()
                    return
                if not _names:
                    continue
                latest = event("apps", await app_list(service, who), who)
                if latest != last:  # tree-only changes leave the list as it was
                    last = latest
                    yield latest
        finally:
            service.unsubscribe(queue)

    return EventSourceResponse(events(), ping=15)


@router.get("/apps/{name}/tree")
async def stream_tree(name: AppName, request: Request, who: Reader) -> EventSourceResponse:
    """Event ``tree``: ``{app: summary, tree}`` at connect and whenever this app changes."""
    service, interval, reauth = _settings(request)
    guard = Guard(request, who)
    queue = service.subscribe()
    try:
        first = await app_tree(service, name, who)
    except BaseException:
        service.unsubscribe(queue)
        raise

    async def events() -> AsyncIterator[dict[str, str]]:
        try:
            last = event("tree", first, who)
            yield last
            async for names in coalesced(queue, interval, reauth):
                if not await guard.allowed():
                    yield guard.refused()
                    return
                if name not in names:
                    continue
                try:
                    latest = event("tree", await app_tree(service, name, who), who)
                except AppNotFound:
                    yield event("gone", {"error": f"application {name!r} was deleted"})
                    return
                if latest != last:
                    last = latest
                    yield latest
        finally:
            service.unsubscribe(queue)

    return EventSourceResponse(events(), ping=15)
