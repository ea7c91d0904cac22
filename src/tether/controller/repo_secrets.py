"""Repository credentials: the labelled Secrets of the app namespace, listed every few seconds.

Every reconcile asks for the credentials of its repository, and thousands of
apps share a handful of Secrets: one listing serves every worker for
``TTL`` seconds, and workers that find it stale together wait for one listing.
A Secret is used only by the project it names (``engine.credentials``).
"""

from __future__ import annotations

import asyncio
import time

from tether.adapters import git
from tether.adapters.kube import ApiError, KubeClient
from tether.engine.objects import Obj

LABEL = "tether.dev/secret-type"
TTL = 10.0


class RepositorySecrets:
    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self._listed: tuple[float, list[Obj]] = (-1e9, [])
        self._listing = asyncio.Lock()

    def current(self) -> list[Obj]:
        """The Secrets as last listed (chart repositories read TLS and OCI options there)."""
        return self._listed[1]

    async def credentials(self, url: str, project: str = "default") -> git.GitCredentials | None:
        """The credentials of ``project`` for ``url``; None when none match or the list failed."""
        if time.monotonic() - self._listed[0] > TTL:
            async with self._listing:
                now = time.monotonic()
                if now - self._listed[0] > TTL:
                    try:
                        api = await self.kube.resource_for("v1", "Secret")
                        secrets, _ = await self.kube.list(
                            api, self.namespace, label_selector=f"{LABEL}=repository"
                        )
                    except ApiError:
                        return None
                    self._listed = (now, secrets)
        return git.credentials_for(url, self._listed[1], project)
