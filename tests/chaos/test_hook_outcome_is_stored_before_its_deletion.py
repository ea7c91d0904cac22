"""A controller killed right after deleting a finished hook: the next one finishes the sync.

Found while aiming the chaos suite's kill-hook fault. A hook whose delete policy is
HookSucceeded was deleted as soon as it was seen Complete, while its outcome
was only in memory; killed before the pass wrote the status, the controller
left the hook recorded as running. The next one waited for a hook that no
longer existed until the step's health timeout (five minutes) failed the sync.
Now the outcome is stored before the hook is deleted (as Argo CD deletes hooks
only once their result is recorded).

The kill is a raise right after the delete in the first controller, which is
then stopped; a second controller with a fresh memory, against the same API
server, takes over (what a restart does).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from fixtures.tether import APP_NS, Apps
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller import hooks as hookrun
from tether.controller.reconciler import Settings
from tether.controller.runtime import Controller
from tether.engine import application as appmodel
from tether.testenv import cluster as localcluster

pytestmark = pytest.mark.cluster
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: '1'\n"
HOOK = """apiVersion: batch/v1
kind: Job
metadata:
  generateName: migrate-
  annotations:
    argocd.argoproj.io/hook: PreSync
    argocd.argoproj.io/hook-delete-policy: HookSucceeded
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: migrate:1
"""


class Killed(Exception):
    """Stands for SIGKILL at one step: the pass ends there, nothing after it is written."""


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


async def test_a_controller_killed_right_after_deleting_a_succeeded_hook_finishes_the_sync(
    controllers: Callable[[str], Any],
    git_repo: Any,
    kube: KubeClient,
    dest_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    apps = Apps(kube)
    git_repo.commit({"apps/h/settings.yaml": CONFIGMAP, "apps/h/hook.yaml": HOOK})
    name = await apps.create(git_repo.git_url, path="apps/h", dest=dest_namespace)
    user = f"op-{secrets.token_hex(3)}"
    killed = asyncio.Event()
    real = hookrun.apply_delete_policy

    async def dies_after_deleting(*args: Any, **kwargs: Any) -> None:
        await real(*args, **kwargs)
        if not killed.is_set():
            killed.set()
            raise Killed

    monkeypatch.setattr(hookrun, "apply_delete_policy", dies_after_deleting)
    async with controllers("first"):
        await apps.wait(name, lambda s: (s.get("sync") or {}).get("status") == "OutOfSync", "seen")
        await kube.merge_patch(
            appmodel.API_VERSION,
            appmodel.KIND,
            name,
            {"operation": {"sync": {}, "initiatedBy": {"username": user}}},
            APP_NS,
        )
        await asyncio.wait_for(killed.wait(), 90)
    jobs, _ = await kube.list(await kube.resource_for("batch/v1", "Job"), dest_namespace)
    assert not [j for j in jobs if not j["metadata"].get("deletionTimestamp")], (
        "the kill was meant to land after the hook was deleted"
    )

    async with controllers("second"):
        app = await await_for(lambda: _finished(apps, name), timeout=60, what="the sync finished")
    state = app["status"]["operationState"]
    assert state["phase"] == "Succeeded", state
    entries = [h for h in app["status"]["history"] if h.get("initiatedBy") == user]
    assert len(entries) == 1, app["status"]["history"]
    assert [h["hookPhase"] for h in entries[0]["hooks"]] == ["Succeeded"], entries[0]
    await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)


async def _finished(apps: Apps, name: str) -> dict[str, Any] | None:
    app = await apps.get(name)
    phase = ((app.get("status") or {}).get("operationState") or {}).get("phase")
    return app if phase in ("Succeeded", "Failed", "Error") and not app.get("operation") else None
