"""Helpers for ApplicationSet tests.

``Sets`` creates ApplicationSets (Tether's, or Argo CD's converted as
``tether appset create -f`` does) and removes them, the Applications they
generated and the namespaces those deployed to.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from fixtures.tether import APP_NS
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.engine import application as appmodel
from tether.engine.appsets import spec as setmodel


def configmap(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  app: {name}\n"


class Sets:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.created: list[str] = []
        self.prefix = f"s{secrets.token_hex(3)}"

    def name(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"

    async def create(self, name: str, spec: dict[str, Any]) -> str:
        await self.kube.create(setmodel.new_set(name, APP_NS, spec))
        self.created.append(name)
        return name

    async def create_argocd(self, manifest: dict[str, Any]) -> str:
        obj = setmodel.from_argocd(manifest, APP_NS)
        await self.kube.create(obj)
        self.created.append(obj["metadata"]["name"])
        return str(obj["metadata"]["name"])

    async def get(self, name: str) -> dict[str, Any]:
        return await self.kube.get(setmodel.API_VERSION, setmodel.KIND, name, APP_NS)

    async def patch(self, name: str, patch: dict[str, Any]) -> None:
        await self.kube.merge_patch(setmodel.API_VERSION, setmodel.KIND, name, patch, APP_NS)

    async def apps(self, name: str) -> dict[str, dict[str, Any]]:
        api = await self.kube.resource_for(appmodel.API_VERSION, appmodel.KIND)
        items, _ = await self.kube.list(api, APP_NS, label_selector=f"{setmodel.SET_LABEL}={name}")
        return {str(a["metadata"]["name"]): a for a in items}

    async def wait_apps(
        self, name: str, expected: set[str], what: str = "", timeout: float = 60
    ) -> dict[str, dict[str, Any]]:
        async def probe() -> tuple[dict[str, dict[str, Any]]] | None:
            found = await self.apps(name)
            return (found,) if set(found) == expected else None  # truthy even when empty

        done = await await_for(probe, timeout=timeout, what=what or f"{name}: apps {expected}")
        return done[0]

    async def wait_status(
        self, name: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            st = (await self.get(name)).get("status") or {}
            return st if check(st) else None

        return await await_for(probe, timeout=timeout, what=f"{name}: {what}")

    async def wait_app(
        self, app: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 90
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            obj = await self.kube.get_or_none(appmodel.API_VERSION, appmodel.KIND, app, APP_NS)
            return obj if obj is not None and check(obj) else None

        return await await_for(probe, timeout=timeout, what=f"{app}: {what}")

    async def cleanup(self) -> None:
        for name in self.created:
            await self.kube.delete(setmodel.API_VERSION, setmodel.KIND, name, APP_NS)
            for app in await self.apps(name):
                await self.kube.delete(appmodel.API_VERSION, appmodel.KIND, app, APP_NS)
        api = await self.kube.resource_for("v1", "Namespace")
        namespaces, _ = await self.kube.list(api)
        for ns in namespaces:
            if str(ns["metadata"]["name"]).startswith(self.prefix):
                await self.kube.delete("v1", "Namespace", ns["metadata"]["name"])


def condition(status: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == ctype), {})


def synced_and_healthy(app: dict[str, Any]) -> bool:
    st = app.get("status") or {}
    return (st.get("sync") or {}).get("status") == "Synced" and (st.get("health") or {}).get(
        "status"
    ) == "Healthy"
