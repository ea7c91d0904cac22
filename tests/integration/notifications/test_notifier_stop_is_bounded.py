"""Stopping the notifier returns in bounded time even when a delivery ignores cancellation.

Leadership teardown awaits ``Notifier.stop()``; a delivery stuck past its
cancellation (a sink that swallows it) must be left behind, not waited for.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tether.adapters.kube import KubeClient
from tether.controller import notifications
from tether.controller.notifications import Notifier
from tether.engine import notifications as model


class _StuckDelivery(Notifier):
    def __init__(self, kube: KubeClient, **kwargs: float) -> None:
        super().__init__(kube, **kwargs)
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def _deliver(self, item: notifications._Item) -> None:
        self.started.set()
        while not self.release.is_set():
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                continue  # what a misbehaving sink does


def _item() -> notifications._Item:
    app = {"metadata": {"name": "web", "namespace": "tether"}}
    notice = model.Notice(
        trigger="on-sync-succeeded", app="web", namespace="tether", message="synced", key="1"
    )
    return notifications._Item(notice, app, "webhook.hook", "")


async def test_stop_leaves_a_delivery_that_ignores_cancellation_behind(
    kube: KubeClient, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = _StuckDelivery(kube, stop_timeout=0.5, poll_interval=60.0)
    await notifier.start()
    notifier._put(_item())
    await asyncio.wait_for(notifier.started.wait(), 10)

    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=notifications.__name__):
        await notifier.stop()
    took = time.monotonic() - began

    assert took < 3.0
    assert "did not stop within" in caplog.text
    notifier.release.set()  # let the stray task end before the loop closes
    await asyncio.sleep(0.05)


async def test_stop_waits_for_deliveries_that_end_when_cancelled(kube: KubeClient) -> None:
    notifier = Notifier(kube, stop_timeout=5.0, poll_interval=60.0)
    await notifier.start()
    tasks = list(notifier._tasks)

    await notifier.stop()

    assert all(task.done() for task in tasks)
