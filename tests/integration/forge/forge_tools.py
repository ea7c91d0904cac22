"""Helpers of the forge tests that are not fixtures: notification settings, apps."""

from __future__ import annotations

import secrets

from fixtures.tether import APP_NS, Apps
from tether.adapters.kube import KubeClient
from tether.engine import application as appmodel
from tether.engine import notifications as model


class NotificationSettings:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube

    async def set(self, services: dict[str, str], secret: dict[str, str]) -> None:
        for obj in (
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": model.SECRET, "namespace": APP_NS},
                "stringData": secret,
            },
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": model.CONFIGMAP, "namespace": APP_NS},
                "data": services,
            },
        ):
            await self.kube.apply(obj, field_manager="test-admin", force=True)

    async def clear(self) -> None:
        for kind in ("Secret", "ConfigMap"):
            if await self.kube.get_or_none("v1", kind, model.SECRET, APP_NS):
                await self.kube.delete("v1", kind, model.SECRET, APP_NS)


async def create_app(
    apps: Apps, repo_url: str, path: str, dest: str, annotations: dict[str, str]
) -> str:
    name = f"forge-{secrets.token_hex(3)}"
    await apps.kube.create(
        {
            "apiVersion": appmodel.API_VERSION,
            "kind": appmodel.KIND,
            "metadata": {"name": name, "namespace": APP_NS, "annotations": annotations},
            "spec": {
                "source": {"repoURL": repo_url, "path": path, "targetRevision": "main"},
                "destination": {"namespace": dest},
                "syncPolicy": {
                    "syncOptions": ["CreateNamespace=true"],
                    "automated": {"prune": True, "selfHeal": True},
                },
            },
        }
    )
    apps.created.append(name)
    return name
