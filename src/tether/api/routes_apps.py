"""Application routes: reads for anyone with a token, actions for admins.

Routes are thin: they validate the request, call ``AppService`` (which does
the work and records who acted) and return its answer. Domain errors turn
into 404/409 in ``errors``; masking happens in the response class. Every
route that names an app takes it as ``AppName``, which answers 404 to a
project token naming an app of another project.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tether.api.auth import Admin, Reader
from tether.api.scope import AppName, visible
from tether.api.summary import filter_summaries, summarize
from tether.controller.service import AppService, SyncRequest
from tether.engine.objects import Obj

RESOURCE_REF = r"^([^/\s]*/)?[^/\s]+/[^/\s]+$"


def get_service(request: Request) -> AppService:
    service: AppService = request.app.state.service
    return service


Service = Annotated[AppService, Depends(get_service)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SyncBody(_Body):
    revision: str | None = Field(
        None, min_length=1, max_length=255, description="Git revision; default: targetRevision"
    )
    prune: bool | None = Field(None, description="delete objects no longer in Git")
    dry_run: bool = Field(False, alias="dryRun", description="plan only, change nothing")
    resources: list[str] = Field(
        default_factory=list, description='only these objects: "Kind/name" or "group/Kind/name"'
    )

    @field_validator("resources")
    @classmethod
    def _refs(cls, refs: list[str]) -> list[str]:
        for ref in refs:
            if not re.fullmatch(RESOURCE_REF, ref):
                raise ValueError(f"{ref!r} is not Kind/name or group/Kind/name")
        return refs


class RollbackBody(_Body):
    id: int = Field(ge=0, description="history entry id (GET /apps/{name}/history)")


router = APIRouter(prefix="/api/v1", tags=["apps"])


@router.get("/session")
async def session(who: Reader) -> dict[str, str | None]:
    return {"user": who.user, "role": who.role, "project": who.project}


@router.get("/apps")
async def list_apps(
    who: Reader,
    service: Service,
    search: str | None = None,
    sync: Annotated[str | None, Query(description="Synced, OutOfSync, Unknown; comma list")] = None,
    health: Annotated[str | None, Query(description="Healthy, Degraded, ...; comma list")] = None,
) -> list[dict[str, Any]]:
    apps = visible(who, await service.list_apps())
    return filter_summaries((summarize(a) for a in apps), search, sync, health)


@router.get("/apps/{name}")
async def get_app(name: AppName, _: Reader, service: Service) -> Obj:
    return await service.get_app(name)


@router.get("/apps/{name}/tree")
async def tree(name: AppName, _: Reader, service: Service) -> dict[str, Any]:
    return await service.tree(name)


@router.get("/apps/{name}/diff")
async def diff(name: AppName, _: Reader, service: Service) -> list[dict[str, Any]]:
    return await service.diff(name)


@router.get("/apps/{name}/history")
async def history(name: AppName, _: Reader, service: Service) -> list[dict[str, Any]]:
    return await service.history(name)


@router.get("/apps/{name}/explain")
async def explain(name: AppName, _: Reader, service: Service) -> dict[str, Any]:
    return await service.explain(name)


@router.get("/apps/{name}/events")
async def events(name: AppName, _: Reader, service: Service) -> list[dict[str, Any]]:
    return await service.events(name)


@router.get("/apps/{name}/resource")
async def resource(
    name: AppName,
    _: Reader,
    service: Service,
    kind: Annotated[str, Query(min_length=1)],
    resource_name: Annotated[str, Query(alias="name", min_length=1)],
    group: str = "",
    namespace: str = "",
) -> dict[str, Any]:
    return await service.resource(name, group, kind, namespace, resource_name)


@router.post("/apps/{name}/sync")
async def sync(name: AppName, body: SyncBody, who: Admin, service: Service) -> dict[str, Any]:
    request = SyncRequest(
        revision=body.revision,
        prune=body.prune,
        dry_run=body.dry_run,
        resources=tuple(body.resources),
    )
    return await service.sync(name, request, initiated_by=who.user)


@router.post("/apps/{name}/rollback")
async def rollback(
    name: AppName, body: RollbackBody, who: Admin, service: Service
) -> dict[str, Any]:
    return await service.rollback(name, body.id, initiated_by=who.user)


@router.post("/apps/{name}/resume")
async def resume(name: AppName, who: Admin, service: Service) -> dict[str, str]:
    await service.resume(name, initiated_by=who.user)
    return {"message": f"auto-sync resumed for {name}"}


@router.post("/apps/{name}/refresh")
async def refresh(name: AppName, _: Admin, service: Service) -> dict[str, str]:
    await service.refresh(name)
    return {"message": f"refresh requested for {name}; Git and the cluster are re-read"}
