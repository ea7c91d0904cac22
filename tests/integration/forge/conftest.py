"""Forge fixtures: the real Gitea, the registry, and the notification ConfigMap/Secret.

``forge_notifications`` writes the ``tether-notifications`` ConfigMap and
Secret of the app namespace, as an administrator would, and removes them
afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from forge_tools import NotificationSettings

from fixtures.gitea import gitea_repo, gitea_server
from fixtures.registry import registry_server
from tether.adapters.kube import KubeClient

__all__ = ["gitea_repo", "gitea_server", "registry_server"]


@pytest.fixture
async def forge_notifications(installed: Any) -> AsyncIterator[NotificationSettings]:
    kube = KubeClient.from_kubeconfig(installed.kubeconfig)
    settings = NotificationSettings(kube)
    await settings.clear()
    try:
        yield settings
    finally:
        await settings.clear()
        await kube.close()
