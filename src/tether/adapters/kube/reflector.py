"""List, then watch from where the list ended, for as long as it runs (client-go's Reflector).

A watch ends now and then (the server's timeout, a dropped connection) and is
opened again from the last resourceVersion seen, so nothing is missed and
nothing is listed twice. When that version is too old for the server (410
Gone) the next pass lists again. Any other failure waits, doubling from 0.5 s
up to 30 s, and tries again: a watch is never given up while the process runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from tether.adapters.kube.client import WatchEvent
from tether.adapters.kube.errors import Gone

log = logging.getLogger(__name__)

FIRST_RETRY = 0.5
LAST_RETRY = 30.0


def _never() -> bool:
    return False


def _ignore(exc: Exception) -> None:
    del exc


@dataclass
class Reflector:
    """``relist`` stores a full listing and returns its resourceVersion; ``on_event`` gets the rest.

    ``on_failure`` hears each failure after its wait (a kind the caller may not
    read, say); ``stopping`` ends the loop quietly once the owner is closing.
    Bookmarks only move the resourceVersion on.
    """

    what: str
    relist: Callable[[], Awaitable[str]]
    watch: Callable[[str], AsyncIterator[WatchEvent]]
    on_event: Callable[[WatchEvent], None]
    on_failure: Callable[[Exception], None] = _ignore
    stopping: Callable[[], bool] = _never

    async def run(self) -> None:
        resource_version = ""
        delay = FIRST_RETRY
        while not self.stopping():
            try:
                if not resource_version:
                    resource_version = await self.relist()
                async for event in self.watch(resource_version):
                    delay = FIRST_RETRY
                    version = (event.object.get("metadata") or {}).get("resourceVersion")
                    if version:
                        resource_version = str(version)
                    if event.type != "BOOKMARK":
                        self.on_event(event)
            except asyncio.CancelledError:
                raise
            except Gone:
                resource_version = ""
            except Exception as exc:  # keep watching through API errors
                if self.stopping():
                    return
                log.warning("watch of %s failed: %s; retrying in %.1fs", self.what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, LAST_RETRY)
                self.on_failure(exc)
