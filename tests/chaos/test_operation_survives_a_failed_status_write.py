"""A requested sync whose result cannot be written is run again, not dropped.

Found by the chaos suite: when the API server failed the status write for a
while (500s), the controller still cleared the Application's ``operation``,
so a sync that had been applied was never recorded: it vanished from the
history and from ``operationState``. Now ``operation`` stays until the result
is written; the next pass runs the sync again (an idempotent apply) and
records it, once.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from chaos.proxy import FaultProxy

from fixtures.tether import APP_NS, Apps
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.reconciler import Settings
from tether.controller.runtime import Controller
from tether.engine import application as appmodel
from tether.testenv import cluster as localcluster
from tether.testenv import kubeconfig as kubeconfigs

pytestmark = pytest.mark.cluster
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: '1'\n"


@pytest.fixture
async def proxied_controller(
    installed: localcluster.ClusterState, tmp_path: Path
) -> AsyncIterator[tuple[FaultProxy, Controller]]:
    proxy = FaultProxy(tmp_path, installed.server, installed.ca_file)
    path = tmp_path / "kubeconfig"
    kubeconfigs.write(path, server=proxy.url, ca_file=str(proxy.cert), token=installed.token)
    kube = KubeClient.from_kubeconfig(str(path))
    ctl = Controller(
        kube,
        settings=Settings(app_namespace=APP_NS, poll_interval=2.0),
        cache_dir=tmp_path / "cache",
        workers=2,
        registry_credentials=False,
    )
    await ctl.start()
    try:
        yield proxy, ctl
    finally:
        await ctl.stop()
        await kube.close()
        proxy.close()


async def test_a_sync_whose_status_write_fails_is_recorded_once_afterwards(
    proxied_controller: tuple[FaultProxy, Controller],
    git_repo: Any,
    kube: KubeClient,
    dest_namespace: str,
) -> None:
    proxy, _ctl = proxied_controller
    apps = Apps(kube)
    git_repo.commit({"apps/s/settings.yaml": CONFIGMAP})
    name = await apps.create(git_repo.git_url, path="apps/s", dest=dest_namespace)
    await apps.wait(name, lambda st: (st.get("sync") or {}).get("status") == "OutOfSync", "seen")
    user = f"op-{secrets.token_hex(3)}"
    proxy.episode("500", seconds=6, ratio=1.0, only=f"/applications/{name}/status")
    await kube.merge_patch(
        appmodel.API_VERSION,
        appmodel.KIND,
        name,
        {"operation": {"sync": {}, "initiatedBy": {"username": user}}},
        APP_NS,
    )

    async def recorded() -> dict[str, Any] | None:
        app = await apps.get(name)
        history = (app.get("status") or {}).get("history") or []
        return app if not app.get("operation") and history else None

    app = await await_for(recorded, timeout=90, what="the sync recorded and operation cleared")
    assert proxy.counts["500"] >= 1, "the status write never failed: the test proved nothing"
    by_user = [h for h in app["status"]["history"] if h.get("initiatedBy") == user]
    assert len(by_user) == 1, app["status"]["history"]
    cm = await kube.get("v1", "ConfigMap", "settings", dest_namespace)
    assert cm["data"] == {"a": "1"}
    await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
