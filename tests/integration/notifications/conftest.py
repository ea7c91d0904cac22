"""A local HTTP receiver for notifications, and the notification ConfigMap and Secret.

The receiver is a real HTTP server on a loopback port that records every POST
(headers and body) and answers with the status its ``fail_first`` says, so a
test can make it fail a few times and then recover.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from notify_tools import NotificationConfig, Receiver

from fixtures.registry import registry_server
from tether.adapters.kube import KubeClient

__all__ = ["notification_config", "receiver", "registry_server"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
async def notification_config(installed: Any) -> AsyncIterator[NotificationConfig]:
    kube = KubeClient.from_kubeconfig(installed.kubeconfig)
    config = NotificationConfig(kube)
    await config.clear()
    try:
        yield config
    finally:
        await config.clear()
        await kube.close()
