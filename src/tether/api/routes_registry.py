"""Registry credential routes: see every pull credential and test one now.

The API only defines what it needs (``RegistryService``); the controller
provides the implementation, so this layer never imports the adapters.
Registry credentials are cluster-wide (they name namespaces of every
project), so project tokens get 403 here.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import APIRouter, HTTPException, Request

from tether.api.auth import Admin, GlobalReader, require_global


class RegistryService(Protocol):
    """What the registry page needs from the control plane.

    ``list()`` returns one dict per RegistryCredential: ``name``, ``registry``,
    ``provider``, ``expiresAt``, ``lastRefresh``, ``namespaces`` (each with
    ``namespace``, ``secretName``, ``expiresAt``, ``lastError``, ``ready``)
    and ``lastError``; no credential values. ``check(name)`` tests the
    credential against its registry now and returns ``{ok, message, ...}``;
    it raises ``LookupError`` when no credential has that name.
    """

    async def list(self) -> list[dict[str, Any]]: ...

    async def check(self, name: str) -> dict[str, Any]: ...


router = APIRouter(prefix="/api/v1", tags=["registries"])


def _registries(request: Request) -> RegistryService | None:
    service: RegistryService | None = request.app.state.registries
    return service


@router.get("/registries")
async def list_registries(request: Request, _: GlobalReader) -> list[dict[str, Any]]:
    service = _registries(request)
    return [] if service is None else await service.list()


@router.post("/registries/{name}/check")
async def check_registry(name: str, request: Request, _: Admin) -> dict[str, Any]:
    await require_global(request)
    service = _registries(request)
    if service is None:
        raise HTTPException(404, "registry credentials are not enabled in this controller")
    try:
        return await service.check(name)
    except LookupError:
        raise HTTPException(
            404, f"no registry credential named {name!r}; see GET /api/v1/registries"
        ) from None
