"""A sync whose writes fail, or land and lose their answers, is recorded once.

Found by the chaos suite: when the API server failed the status write for a
while (500s), a sync that had been applied was never recorded. A requested
one vanished (the controller still cleared the Application's ``operation``);
an automated one left the history and the inventory behind (the next pass
found the app Synced and had nothing to do), so an object it created would
never be pruned. Now the status the API server refused is where the next
pass starts from, and ``operation`` stays until that status is written.

A write can also land and lose its answer: a load balancer between the
controller and the API server answers 504 once its read timeout runs out.
The fault proxy's ``lost`` mode forwards each write and then answers so.
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
    await _request_sync(kube, name, user)

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


async def test_an_automated_sync_whose_status_write_fails_is_recorded_afterwards(
    proxied_controller: tuple[FaultProxy, Controller],
    git_repo: Any,
    kube: KubeClient,
    dest_namespace: str,
) -> None:
    proxy, _ctl = proxied_controller
    apps = Apps(kube)
    git_repo.commit({"apps/a/settings.yaml": CONFIGMAP})
    name = await apps.create(
        git_repo.git_url, path="apps/a", dest=dest_namespace, automated={"prune": True}
    )
    await apps.wait_synced(name)
    proxy.episode("500", seconds=8, ratio=1.0, only=f"/applications/{name}/status")
    extra = CONFIGMAP.replace("name: settings", "name: extra")
    sha = git_repo.commit({"apps/a/extra.yaml": extra})
    await await_for(
        lambda: kube.get_or_none("v1", "ConfigMap", "extra", dest_namespace),
        timeout=60,
        what="the new ConfigMap applied",
    )

    async def recorded() -> dict[str, Any] | None:
        st = await apps.status(name)
        history = st.get("history") or []
        return st if history and history[-1]["revision"] == sha else None

    st = await await_for(recorded, timeout=90, what="the deploy in the history")
    assert proxy.counts["500"] >= 1, "the status write never failed: the test proved nothing"
    assert f"|ConfigMap|{dest_namespace}|extra" in st["inventory"], st["inventory"]
    assert [h["revision"] for h in st["history"]].count(sha) == 1
    await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)


async def test_a_sync_recorded_but_not_cleared_is_not_run_a_second_time(
    proxied_controller: tuple[FaultProxy, Controller],
    git_repo: Any,
    kube: KubeClient,
    dest_namespace: str,
) -> None:
    """The result is written but clearing ``operation`` fails for a while: the next
    passes only clear it; running it again would put it in the history twice."""
    proxy, _ctl = proxied_controller
    apps = Apps(kube)
    git_repo.commit({"apps/c/settings.yaml": CONFIGMAP})
    name = await apps.create(git_repo.git_url, path="apps/c", dest=dest_namespace)
    await apps.wait(name, lambda st: (st.get("sync") or {}).get("status") == "OutOfSync", "seen")
    user = f"op-{secrets.token_hex(3)}"
    proxy.episode("500", seconds=6, ratio=1.0, only=f"/applications/{name}$", method="PATCH")
    await _request_sync(kube, name, user)
    await await_for(lambda: _cleared_after(apps, name, proxy), timeout=90, what="operation cleared")
    assert proxy.counts["500"] >= 1, "clearing never failed: the test proved nothing"
    history = (await apps.status(name)).get("history") or []
    assert [h.get("initiatedBy") for h in history].count(user) == 1, history
    await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)


async def test_a_requested_sync_whose_writes_lose_their_answers_is_recorded_once(
    proxied_controller: tuple[FaultProxy, Controller],
    git_repo: Any,
    kube: KubeClient,
    dest_namespace: str,
) -> None:
    """Every write to the Application reaches the API server and its answer is lost (a
    504 from a load balancer in between): the intent, the result and the clearing of
    ``operation`` are done but look refused. The sync is still recorded once."""
    proxy, _ctl = proxied_controller
    apps = Apps(kube)
    git_repo.commit({"apps/l/settings.yaml": CONFIGMAP})
    name = await apps.create(git_repo.git_url, path="apps/l", dest=dest_namespace)
    await apps.wait(name, lambda st: (st.get("sync") or {}).get("status") == "OutOfSync", "seen")
    user = f"op-{secrets.token_hex(3)}"
    proxy.episode("lost", seconds=6, ratio=1.0, only=f"/applications/{name}", method="PATCH")
    await _request_sync(kube, name, user)
    await await_for(lambda: _cleared_after(apps, name, proxy), timeout=90, what="operation cleared")
    assert proxy.counts["lost"] >= 2, "no answer was lost: the test proved nothing"
    status = await apps.status(name)
    history = status.get("history") or []
    assert [h.get("initiatedBy") for h in history].count(user) == 1, history
    assert (status.get("operationState") or {}).get("phase") == "Succeeded", status
    cm = await kube.get("v1", "ConfigMap", "settings", dest_namespace)
    assert cm["data"] == {"a": "1"}
    await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)


async def _request_sync(kube: KubeClient, name: str, user: str) -> None:
    """A sync requested as ``tether app sync`` requests it."""
    await kube.merge_patch(
        appmodel.API_VERSION,
        appmodel.KIND,
        name,
        {"operation": {"sync": {}, "initiatedBy": {"username": user}}},
        APP_NS,
    )


async def _cleared_after(apps: Apps, name: str, proxy: FaultProxy) -> bool:
    return not proxy.active() and not (await apps.get(name)).get("operation")


async def test_a_lost_intent_written_over_does_not_pass_for_the_request_s_result(
    proxied_controller: tuple[FaultProxy, Controller],
    git_repo: Any,
    kube: KubeClient,
    dest_namespace: str,
) -> None:
    """A requested sync's intent lands and its answer is lost, so the pass writes the
    earlier (automated) result back. Merged into the intent, that result kept the
    intent's id and request number and read as the request's result: the request
    was cleared and never run (found by the chaos suite's api-lost fault)."""
    proxy, _ctl = proxied_controller
    apps = Apps(kube)
    git_repo.commit({"apps/i/settings.yaml": CONFIGMAP})
    name = await apps.create(
        git_repo.git_url, path="apps/i", dest=dest_namespace, automated={"prune": True}
    )
    await apps.wait_synced(name)
    user = f"op-{secrets.token_hex(3)}"
    proxy.episode(
        "lost",
        seconds=30,
        ratio=1.0,
        only=f"/applications/{name}/status",
        method="PATCH",
        body=user,
        times=1,
    )
    await _request_sync(kube, name, user)

    async def cleared() -> bool:
        return not (await apps.get(name)).get("operation")

    await await_for(cleared, timeout=90, what="operation cleared")
    assert proxy.counts["lost"] == 1, "the intent's answer was not lost: the test proved nothing"
    status = await apps.status(name)
    history = status.get("history") or []
    assert [h.get("initiatedBy") for h in history].count(user) == 1, history
    assert status["operationState"]["initiatedBy"] == user, status["operationState"]
    await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)


async def test_an_apply_whose_answer_is_lost_is_sent_again_and_its_deploy_recorded(
    proxied_controller: tuple[FaultProxy, Controller],
    git_repo: Any,
    kube: KubeClient,
    dest_namespace: str,
) -> None:
    """The new object's apply lands and its answer is lost, twice: a server-side apply
    is sent again, so the sync succeeds and the deploy is in the history. Failed, the
    next pass would find the app Synced and nothing to sync, and the deploy would never
    be recorded."""
    proxy, _ctl = proxied_controller
    apps = Apps(kube)
    git_repo.commit({"apps/g/settings.yaml": CONFIGMAP})
    name = await apps.create(
        git_repo.git_url, path="apps/g", dest=dest_namespace, automated={"prune": True}
    )
    await apps.wait_synced(name)
    proxy.episode(
        "lost",
        seconds=60,
        ratio=1.0,
        only="/configmaps/extra",
        method="PATCH",
        exclude="dryRun",  # the apply itself, not the comparison's dry run
        times=2,
    )
    sha = git_repo.commit({"apps/g/extra.yaml": CONFIGMAP.replace("name: settings", "name: extra")})

    async def recorded() -> dict[str, Any] | None:
        st = await apps.status(name)
        history = st.get("history") or []
        return st if history and history[-1]["revision"] == sha else None

    st = await await_for(recorded, timeout=90, what="the deploy in the history")
    assert proxy.counts["lost"] == 2, "no answer was lost: the test proved nothing"
    assert st["operationState"]["phase"] == "Succeeded", st["operationState"]
    assert [h["revision"] for h in st["history"]].count(sha) == 1
    await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
