"""What the surfaces (CLI, HTTP API, UI) may ask of Tether, in one place.

Every read and every action goes through ``AppService`` so the CLI, the API
and the UI show the same truth and record actions the same way (a
Kubernetes Event naming who did it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from tether.engine.objects import Obj


class AppNotFound(LookupError):
    """No Application with that name."""


class ActionRefused(ValueError):
    """The action is not allowed; the message says why and what to do instead."""


@dataclass(frozen=True)
class SyncRequest:
    revision: str | None = None
    prune: bool | None = None
    dry_run: bool = False
    resources: tuple[str, ...] = ()  # "Kind/name" or "group/Kind/name"


class AppService:
    """Reads come from the live cache when running in the controller, else from the API server."""

    async def list_apps(self) -> list[Obj]:
        raise NotImplementedError

    async def get_app(self, name: str) -> Obj:
        raise NotImplementedError

    async def tree(self, name: str) -> dict[str, Any]:
        """{"nodes": [...], "edges": [...], "orphans": [...]} (engine.tree ResourceTree.to_json)."""
        raise NotImplementedError

    async def diff(self, name: str) -> list[dict[str, Any]]:
        """[{group, kind, namespace, name, status, diff}] with Secret values masked."""
        raise NotImplementedError

    async def history(self, name: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def explain(self, name: str) -> dict[str, Any]:
        """{"status", "text", "chain": [...], "nextStep"}."""
        raise NotImplementedError

    async def events(self, name: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def resource(
        self, name: str, group: str, kind: str, namespace: str, resource_name: str
    ) -> dict[str, Any]:
        """{"manifest": masked live object, "events": [...], "diff": text or ""}."""
        raise NotImplementedError

    async def sync(self, name: str, request: SyncRequest, *, initiated_by: str) -> dict[str, Any]:
        raise NotImplementedError

    async def rollback(self, name: str, history_id: int, *, initiated_by: str) -> dict[str, Any]:
        raise NotImplementedError

    async def resume(self, name: str, *, initiated_by: str) -> None:
        raise NotImplementedError

    async def refresh(self, name: str) -> None:
        raise NotImplementedError

    def subscribe(self) -> asyncio.Queue[str]:
        """A queue that receives an app name each time that app or its tree changes."""
        raise NotImplementedError

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        raise NotImplementedError
