"""The seed story end to end on a real control plane and a real Git server.

1 replica -> commit replicas: 3 -> three Ready Pods -> image change -> a new
ReplicaSet with the old one kept at 0 -> rollback (auto-sync paused) -> resume.
"""

from __future__ import annotations

from typing import Any

from fixtures.tether import Apps, example_files
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.service import AppService
from tether.engine import application as appmodel


async def _pods_ready(kube: KubeClient, ns: str) -> list[dict[str, Any]]:
    api = await kube.resource_for("v1", "Pod")
    pods, _ = await kube.list(api, ns)
    return [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p.get("status", {}).get("conditions", [])
        )
    ]


async def _deployment(kube: KubeClient, ns: str) -> dict[str, Any]:
    return await kube.get("apps/v1", "Deployment", "finance-api", ns)


async def test_seed_story_scale_out_image_change_rollback_and_resume(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    kube = apps.kube
    files = example_files()
    head = git_repo.commit(files, message="finance app, 1 replica")
    name = await apps.create(
        git_repo.git_url, dest=dest_namespace, automated={"prune": True, "selfHeal": True}
    )

    async def synced_healthy() -> dict[str, Any] | None:
        # Tied to the commit: kwok Pods can turn Ready before the sync's status
        # write lands, while the status still tells of the previous commit.
        st = await apps.status(name)
        ok = (
            st.get("sync", {}).get("status") == "Synced"
            and st.get("sync", {}).get("revision") == head
            and st.get("health", {}).get("status") == "Healthy"
        )
        return st if ok else None

    st = await await_for(synced_healthy, what="app Synced and Healthy")
    assert len(await _pods_ready(kube, dest_namespace)) == 1
    assert [h["id"] for h in st["history"]] == [1]

    deployment = "apps/finance/deployment.yaml"
    head = git_repo.commit(
        {deployment: files[deployment].replace("replicas: 1", "replicas: 3")},
        message="scale finance-api to 3",
    )
    await await_for(lambda: _count(kube, dest_namespace, 3), what="three Ready pods")
    st = await await_for(synced_healthy, what="Synced and Healthy at 3 replicas")
    assert st["history"][-1]["message"] == "scale finance-api to 3"

    new_image = (
        files[deployment]
        .replace("replicas: 1", "replicas: 3")
        .replace("finance-api:1.4", "finance-api:1.5")
    )
    head = git_repo.commit({deployment: new_image}, message="finance-api 1.5")

    async def rolled_out() -> bool:
        api = await kube.resource_for("apps/v1", "ReplicaSet")
        rss, _ = await kube.list(api, dest_namespace)
        by_image = {
            rs["spec"]["template"]["spec"]["containers"][0]["image"].split(":")[-1]: rs
            for rs in rss
        }
        return (
            "1.5" in by_image
            and by_image["1.5"]["status"].get("readyReplicas") == 3
            and by_image.get("1.4", {}).get("spec", {}).get("replicas") == 0
        )

    await await_for(rolled_out, what="new ReplicaSet ready, old kept at 0")
    await await_for(synced_healthy, what="Synced and Healthy after the image change")

    tree = await service.tree(name)
    history_nodes = [n for n in tree["nodes"] if n["role"] == "history"]
    assert [n["kind"] for n in history_nodes] == ["ReplicaSet"]
    assert "rollout history" in history_nodes[0]["note"]

    history = await service.history(name)
    assert len(history) == 3
    state = await service.rollback(name, history[1]["id"], initiated_by="tester")
    assert state["phase"] == "Succeeded", state
    dep = await _deployment(kube, dest_namespace)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.4")
    app = await apps.get(name)
    assert appmodel.PAUSE_ANNOTATION in app["metadata"]["annotations"]

    async def paused_and_out_of_sync() -> bool:
        st = await apps.status(name)
        return (
            st.get("sync", {}).get("status") == "OutOfSync"
            and st.get("autoSyncPaused", {}).get("paused") is True
        )

    await await_for(paused_and_out_of_sync, what="OutOfSync with auto-sync paused")
    dep = await _deployment(kube, dest_namespace)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.4"), (
        "auto-sync must not re-apply the bad commit while paused"
    )

    await service.resume(name, initiated_by="tester")

    async def back_on_head() -> bool:
        dep = await _deployment(kube, dest_namespace)
        return dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.5")

    await await_for(back_on_head, what="auto-sync back on Git HEAD after resume")
    await await_for(synced_healthy, what="Synced and Healthy after resume")


async def _count(kube: KubeClient, ns: str, n: int) -> bool:
    return len(await _pods_ready(kube, ns)) == n
