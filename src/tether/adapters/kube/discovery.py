"""What the API server serves, and where: apiVersion and kind to a resource path.

One ``Discovery`` per API server, shared by a client and its impersonating
copies: what kinds exist does not depend on who asks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tether.adapters.kube import errors


@dataclass(frozen=True)
class ApiResource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name)}"
        return base


class Discovery:
    """The API server's resources, read once (``get`` fetches one discovery document)
    and again only when asked for a kind it did not know."""

    def __init__(self, get: Callable[[str], Awaitable[Any]]) -> None:
        self._get = get
        self._resources: dict[tuple[str, str], ApiResource] = {}
        self._discovered = False
        self._lock = asyncio.Lock()

    async def resources(self, *, refresh: bool = False) -> dict[tuple[str, str], ApiResource]:
        """Every resource by (apiVersion, kind)."""
        async with self._lock:
            if self._discovered and not refresh:
                return self._resources
            core = await self._get("/api")
            group_versions = [("", v) for v in core.get("versions", [])]
            groups = await self._get("/apis")
            for group in groups.get("groups", []):
                for ver in group.get("versions", []):
                    group_versions.append((group["name"], ver["version"]))
            found: dict[tuple[str, str], ApiResource] = {}
            await asyncio.gather(*(self._fetch(g, v, found) for g, v in group_versions))
            self._resources = found
            self._discovered = True
            return found

    async def _fetch(
        self, group: str, version: str, found: dict[tuple[str, str], ApiResource]
    ) -> None:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            doc = await self._get(path)
        except errors.ApiError:
            return  # a group version that fails (an aggregated API down) hides only its kinds
        for res in doc.get("resources", []):
            if "/" in res["name"]:
                continue  # a subresource
            api = ApiResource(
                group=group,
                version=version,
                kind=res["kind"],
                plural=res["name"],
                namespaced=bool(res.get("namespaced")),
                verbs=frozenset(res.get("verbs", [])),
            )
            found[(api.api_version, api.kind)] = api

    async def resource_for(self, api_version: str, kind: str) -> ApiResource:
        """The resource serving ``kind``; discovery is read again once for a kind it
        does not know (a CRD installed since), then ``UnknownKind``."""
        found = (await self.resources()).get((api_version, kind))
        if found is None:
            found = (await self.resources(refresh=True)).get((api_version, kind))
        if found is None:
            raise errors.UnknownKind(api_version, kind)
        return found

    async def preferred(self) -> list[ApiResource]:
        """One resource per group and kind (the first served version), for listing live state."""
        seen: dict[tuple[str, str], ApiResource] = {}
        for api in (await self.resources()).values():
            seen.setdefault((api.group, api.kind), api)
        return list(seen.values())
