"""Helpers for app-of-apps and dependency tests: a tree of apps, and cleaning it up.

Child Applications are created by the controller, not by the test, so the
``apps`` fixture does not know them; ``tree`` removes every Application
labelled as deployed by a root the test registered (finalizers first, so
nothing waits on a controller that has stopped) and the namespaces the
apps created.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from fixtures.tether import APP_NS
from fixtures.waiting import await_for
from tether.adapters.kube import ApiError, KubeClient
from tether.engine import application as appmodel

ARGO_FINALIZER = "resources-finalizer.argocd.argoproj.io"


@dataclass
class Tree:
    kube: KubeClient
    token: str = field(default_factory=lambda: secrets.token_hex(3))
    roots: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def name(self, base: str) -> str:
        return f"{base}-{self.token}"

    def namespace(self, base: str) -> str:
        ns = f"aoa-{base}-{self.token}"
        self.namespaces.append(ns)
        return ns

    async def create_root(self, manifest: dict[str, Any]) -> str:
        """Create a root app from an Argo CD Application manifest, as `tether app create -f`."""
        app = appmodel.from_argocd(manifest, APP_NS)
        await self.kube.create(app)
        self.roots.append(app["metadata"]["name"])
        return str(app["metadata"]["name"])

    async def app(self, name: str) -> dict[str, Any] | None:
        return await self.kube.get_or_none(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)

    async def wait(
        self, name: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60
    ) -> dict[str, Any]:
        """Wait until app ``name`` exists and ``check(status)`` holds (it may not exist yet)."""

        async def probe() -> dict[str, Any] | None:
            app = await self.app(name)
            st = (app or {}).get("status") or {}
            return st if app is not None and check(st) else None

        return await await_for(probe, timeout=timeout, what=f"{name}: {what}")

    async def wait_gone(self, name: str, timeout: float = 60) -> None:
        await await_for(lambda: _gone(self, name), timeout=timeout, what=f"{name} deleted")

    async def configmap(self, name: str, namespace: str) -> dict[str, Any] | None:
        return await self.kube.get_or_none("v1", "ConfigMap", name, namespace)

    async def _all_apps(self) -> list[dict[str, Any]]:
        api = await self.kube.resource_for(appmodel.API_VERSION, appmodel.KIND)
        items, _ = await self.kube.list(api, APP_NS)
        return items

    async def _remove(self, name: str) -> None:
        with contextlib.suppress(ApiError):  # gone already
            await self.kube.merge_patch(
                appmodel.API_VERSION,
                appmodel.KIND,
                name,
                {"metadata": {"finalizers": None}},
                APP_NS,
            )
        await self.kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)

    async def cleanup(self) -> None:
        for root in self.roots:
            await self._remove(root)
        for root in self.roots:
            await self.wait_gone(root, timeout=30)
        mine = set(self.roots)
        for app in await self._all_apps():
            labels = app["metadata"].get("labels") or {}
            if labels.get(appmodel.INSTANCE_LABEL) in mine or self.token in app["metadata"]["name"]:
                await self._remove(app["metadata"]["name"])
        for ns in self.namespaces:
            await self.kube.delete("v1", "Namespace", ns)


async def _gone(tree: Tree, name: str) -> bool:
    return await tree.app(name) is None


def configmap_yaml(name: str, owner: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"owner": owner},
        }
    )


def argo_application(
    name: str,
    *,
    repo_url: str,
    path: str,
    dest: str,
    project: str = "default",
    finalizer: bool = True,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An Argo CD Application manifest as its users keep them in Git."""
    meta: dict[str, Any] = {"name": name, "namespace": "argocd"}
    if finalizer:
        meta["finalizers"] = [ARGO_FINALIZER]
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": meta,
        "spec": {
            "project": project,
            "source": {"repoURL": repo_url, "targetRevision": "main", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": dest},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }


def condition(status: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == ctype), None)
