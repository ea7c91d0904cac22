"""Drift repair is not queued behind a bulk refresh (one push queues every app of a repo)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from fixtures.tether import Apps, example_files
from fixtures.waiting import await_for
from tether.controller.runtime import Controller
from tether.controller.workqueue import Priority

Kubectl = Callable[..., str]
BULK = 16


async def test_a_drifted_object_is_repaired_before_a_queued_bulk_refresh_drains(
    git_repo: Any,
    apps: Apps,
    kubectl: Kubectl,
    dest_namespace: str,
    controller: Controller,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    git_repo.commit(example_files())
    healed = await apps.create(
        git_repo.git_url, dest=dest_namespace, automated={"prune": True, "selfHeal": True}
    )
    await apps.wait_synced(healed)
    # Manual-sync apps on the same repository: each refresh only compares.
    bulk = [
        await apps.create(git_repo.git_url, dest=f"{dest_namespace}-idle", options=[])
        for _ in range(BULK)
    ]
    for name in bulk:
        await apps.wait(name, lambda st: bool((st.get("sync") or {}).get("status")), "compared")

    started: list[tuple[str, float, int]] = []
    real = controller.reconciler.reconcile

    async def slow_reconcile(app: dict[str, Any], *, since: float | None = None) -> float | None:
        # Each reconcile takes a while, as a render of a big repository does.
        name = str(app["metadata"]["name"])
        started.append((name, time.monotonic(), controller.queue_depth))
        await asyncio.sleep(0.5)
        return await real(app, since=since)

    monkeypatch.setattr(controller.reconciler, "reconcile", slow_reconcile)
    for name in bulk:  # what refresh_repo does for a push
        controller.enqueue(name, priority=Priority.ROUTINE)
    drifted_at = time.monotonic()
    kubectl("scale", "deployment/finance-api", "--replicas=4", "-n", dest_namespace)

    async def reverted() -> bool:
        d = await controller.kube.get("apps/v1", "Deployment", "finance-api", dest_namespace)
        return bool(d["spec"]["replicas"] == 1)

    await await_for(reverted, timeout=30, what="replicas reverted to 1")
    repair = next((s for s in started if s[0] == healed and s[1] >= drifted_at), None)
    assert repair is not None, started
    bulk_starts = [s[1] for s in started if s[0] in bulk and s[1] >= drifted_at]
    # The repair started while refreshes of the push were still waiting.
    assert repair[2] > 0, started
    assert bulk_starts and repair[1] < max(bulk_starts), started
