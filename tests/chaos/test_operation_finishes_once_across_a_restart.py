"""A controller killed half-way through a sync: the next one records it once, runs it once.

Found by the chaos suite. Killed after writing a requested sync's result but
before clearing ``operation``, a controller left the request behind and the
next one ran it a second time (two history entries). Killed after an
automated sync's apply but before its status write, it left a deploy in the
cluster that the history never showed. Now a sync is stored Running before
its first apply and its result names the request (``controller.exactly_once``).

The kill is a raise at the step in question in the first controller, which is
then stopped; a second controller with a fresh memory, against the same API
server, takes over (what a restart does).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from fixtures.tether import APP_NS, Apps
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.reconciler import Settings
from tether.controller.runtime import Controller
from tether.engine import application as appmodel
from tether.testenv import cluster as localcluster

pytestmark = pytest.mark.cluster
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"


class Killed(Exception):
    """Stands for SIGKILL at one step: the pass ends there, nothing after it is written."""


Starter = Callable[[str], Any]


@pytest.fixture
def controllers(installed: localcluster.ClusterState, tmp_path: Path) -> Callable[[str], Any]:
    @asynccontextmanager
    async def run(label: str) -> AsyncIterator[Controller]:
        kube = KubeClient.from_kubeconfig(installed.kubeconfig)
        ctl = Controller(
            kube,
            settings=Settings(app_namespace=APP_NS, poll_interval=2.0),
            cache_dir=tmp_path / f"cache-{label}",
            workers=2,
            registry_credentials=False,
        )
        await ctl.start()
        try:
            yield ctl
        finally:
            await ctl.stop()
            await kube.close()

    return run


async def test_a_requested_sync_killed_before_its_request_is_cleared_runs_once(
    controllers: Starter, git_repo: Any, kube: KubeClient, dest_namespace: str
) -> None:
    apps = Apps(kube)
    git_repo.commit({"apps/k/settings.yaml": CONFIGMAP.format(name="settings")})
    name = await apps.create(git_repo.git_url, path="apps/k", dest=dest_namespace)
    user = f"op-{secrets.token_hex(3)}"
    async with controllers("first") as first:
        await apps.wait(name, lambda s: (s.get("sync") or {}).get("status") == "OutOfSync", "seen")
        real = first.kube.merge_patch

        async def dies_clearing(*args: Any, **kwargs: Any) -> Any:
            if len(args) > 3 and args[3] == {"operation": None}:
                raise Killed
            return await real(*args, **kwargs)

        first.kube.merge_patch = dies_clearing  # type: ignore[method-assign]
        await _request_sync(kube, name, user)
        app = await await_for(lambda: _finished(apps, name), timeout=60, what="the result written")
    assert app.get("operation"), "the kill was meant to land before the request was cleared"
    assert _by(app, user) == 1

    async with controllers("second") as second:
        app = await await_for(lambda: _cleared(apps, name), timeout=60, what="the request cleared")
        assert second.reconciler.sync_count == 0, "the restarted controller ran it again"
    assert _by(app, user) == 1, app["status"]["history"]
    assert app["status"]["operationState"]["phase"] == "Succeeded"
    await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)


async def test_a_deploy_killed_between_its_apply_and_its_status_write_is_recorded_once(
    controllers: Starter, git_repo: Any, kube: KubeClient, dest_namespace: str
) -> None:
    apps = Apps(kube)
    git_repo.commit({"apps/d/settings.yaml": CONFIGMAP.format(name="settings")})
    name = await apps.create(
        git_repo.git_url, path="apps/d", dest=dest_namespace, automated={"prune": True}
    )
    async with controllers("first") as first:
        await apps.wait_synced(name)
        runner = first.reconciler.syncer.runner
        real = runner.advance

        async def dies_after_applying(*args: Any, **kwargs: Any) -> Any:
            await real(*args, **kwargs)
            raise Killed

        runner.advance = dies_after_applying  # type: ignore[method-assign]
        sha = git_repo.commit({"apps/d/extra.yaml": CONFIGMAP.format(name="extra")})
        await await_for(
            lambda: kube.get_or_none("v1", "ConfigMap", "extra", dest_namespace),
            timeout=60,
            what="the new commit applied",
        )
    status = await apps.status(name)
    assert sha not in [h["revision"] for h in status.get("history") or []]
    assert status["operationState"]["phase"] == "Running", "no intent stored before the apply"

    async with controllers("second"):
        status = await apps.wait(
            name,
            lambda s: any(h["revision"] == sha for h in s.get("history") or []),
            "the deploy in the history",
        )
    assert [h["revision"] for h in status["history"]].count(sha) == 1, status["history"]
    assert f"|ConfigMap|{dest_namespace}|extra" in status["inventory"]
    assert status["operationState"]["phase"] == "Succeeded"
    await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)


async def _request_sync(kube: KubeClient, name: str, user: str) -> None:
    await kube.merge_patch(
        appmodel.API_VERSION,
        appmodel.KIND,
        name,
        {"operation": {"sync": {}, "initiatedBy": {"username": user}}},
        APP_NS,
    )


def _by(app: dict[str, Any], user: str) -> int:
    history = (app.get("status") or {}).get("history") or []
    return [h.get("initiatedBy") for h in history].count(user)


async def _finished(apps: Apps, name: str) -> dict[str, Any] | None:
    app = await apps.get(name)
    phase = ((app.get("status") or {}).get("operationState") or {}).get("phase")
    return app if phase == "Succeeded" else None


async def _cleared(apps: Apps, name: str) -> dict[str, Any] | None:
    app = await apps.get(name)
    return None if app.get("operation") else app
