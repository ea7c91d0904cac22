"""What a project token may see: only Applications of its own project.

A token bound to project P acts as if the apps of other projects did not
exist: they are left out of lists and streams, and naming one answers the
same 404 as a name nobody uses, so a token cannot even learn that they
exist. Global tokens (no project) see every app. The controller enforces
what an app of a project may deploy; this module only scopes API access.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends, Request

from tether.api.auth import Principal, require_reader
from tether.controller.service import AppNotFound, AppService
from tether.engine.objects import Obj

DEFAULT_PROJECT = "default"


def project_of(app: Obj) -> str:
    """The app's ``spec.project``; an app that names none belongs to ``default``."""
    spec: Any = app.get("spec") or {}
    project = spec.get("project") if isinstance(spec, dict) else None
    return str(project) if project else DEFAULT_PROJECT


def sees(principal: Principal, app: Obj) -> bool:
    return principal.project is None or project_of(app) == principal.project


def visible(principal: Principal, apps: Iterable[Obj]) -> list[Obj]:
    return [a for a in apps if sees(principal, a)]


async def check_app(service: AppService, principal: Principal, name: str) -> Obj | None:
    """The app if ``principal`` may see it; raises the same AppNotFound as a missing app."""
    if principal.project is None:
        return None  # global token: the route's own lookup answers 404 for a missing app
    app = await service.get_app(name)
    if not sees(principal, app):
        raise AppNotFound(name)
    return app


async def scoped_name(name: str, request: Request) -> str:
    """Path parameter ``name``, after checking the caller may see that app."""
    principal = await require_reader(request)
    await check_app(request.app.state.service, principal, name)
    return name


AppName = Annotated[str, Depends(scoped_name)]
