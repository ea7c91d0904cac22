"""Self-heal: drift made with kubectl is reverted within seconds and reported.

Every change here is made with the real kubectl against the real API server,
so the field managers in the events are the ones kubectl really uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fixtures.tether import Apps, example_files
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.runtime import Controller

Kubectl = Callable[..., str]
SELF_HEAL = {"prune": True, "selfHeal": True}


async def _deployment(kube: KubeClient, ns: str) -> dict[str, Any]:
    return await kube.get("apps/v1", "Deployment", "finance-api", ns)


async def _drift_event(apps: Apps, name: str, *needles: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        for event in await apps.events(name, "DriftReverted"):
            if all(n in event["message"] for n in needles):
                return event
        return None

    return await await_for(found, what=f"a DriftReverted event naming {needles}")


async def test_kubectl_scale_is_reverted_and_the_event_names_path_and_manager(
    git_repo: Any, apps: Apps, kubectl: Kubectl, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(git_repo.git_url, dest=dest_namespace, automated=SELF_HEAL)
    await apps.wait_synced(name)

    kubectl("scale", "deployment/finance-api", "--replicas=4", "-n", dest_namespace)

    async def back_to_one() -> bool:
        return (await _deployment(apps.kube, dest_namespace))["spec"]["replicas"] == 1

    await await_for(back_to_one, timeout=20, what="replicas reverted to 1")
    event = await _drift_event(apps, name, "Deployment finance-api", "/spec/replicas")
    # kubectl scale has no --field-manager: the API server records "kubectl" on the
    # scale subresource, and the event says exactly that.
    assert "by kubectl (scale subresource)" in event["message"], event["message"]
    await apps.wait_synced(name)


async def test_kubectl_patch_of_managed_fields_is_reverted_naming_kubectl_patch(
    git_repo: Any, apps: Apps, kubectl: Kubectl, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(git_repo.git_url, dest=dest_namespace, automated=SELF_HEAL)
    await apps.wait_synced(name)

    kubectl(
        "patch",
        "configmap",
        "finance-api-config",
        "-n",
        dest_namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"data": {"LOG_LEVEL": "debug"}}),
    )
    kubectl(
        "patch",
        "deployment",
        "finance-api",
        "-n",
        dest_namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"metadata": {"labels": {"app.kubernetes.io/part-of": "hacked"}}}),
    )

    async def reverted() -> bool:
        cm = await apps.kube.get("v1", "ConfigMap", "finance-api-config", dest_namespace)
        dep = await _deployment(apps.kube, dest_namespace)
        return (
            cm["data"]["LOG_LEVEL"] == "info"
            and dep["metadata"]["labels"]["app.kubernetes.io/part-of"] == "finance-app"
        )

    await await_for(reverted, timeout=20, what="ConfigMap data and Deployment label reverted")
    cm_event = await _drift_event(apps, name, "ConfigMap finance-api-config", "/data/LOG_LEVEL")
    assert "kubectl-patch" in cm_event["message"], cm_event["message"]
    dep_event = await _drift_event(
        apps, name, "Deployment finance-api", "/metadata/labels/app.kubernetes.io~1part-of"
    )
    assert "kubectl-patch" in dep_event["message"], dep_event["message"]


async def test_kubectl_delete_of_service_and_configmap_recreates_them(
    git_repo: Any, apps: Apps, kubectl: Kubectl, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(git_repo.git_url, dest=dest_namespace, automated=SELF_HEAL)
    await apps.wait_synced(name)
    old_uid = (await apps.kube.get("v1", "Service", "finance-api", dest_namespace))["metadata"][
        "uid"
    ]

    kubectl("delete", "service", "finance-api", "-n", dest_namespace)
    kubectl("delete", "configmap", "finance-api-config", "-n", dest_namespace)

    async def recreated() -> bool:
        svc = await apps.kube.get_or_none("v1", "Service", "finance-api", dest_namespace)
        cm = await apps.kube.get_or_none("v1", "ConfigMap", "finance-api-config", dest_namespace)
        return svc is not None and cm is not None and svc["metadata"]["uid"] != old_uid

    await await_for(recreated, timeout=20, what="Service and ConfigMap recreated")
    await _drift_event(apps, name, "Service finance-api", "deleted")
    await _drift_event(apps, name, "ConfigMap finance-api-config", "deleted")
    await apps.wait_synced(name)


async def test_without_self_heal_drift_is_reported_out_of_sync_and_left_alone(
    git_repo: Any, apps: Apps, kubectl: Kubectl, dest_namespace: str, controller: Controller
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(
        git_repo.git_url, dest=dest_namespace, automated={"prune": True, "selfHeal": False}
    )
    await apps.wait_synced(name)

    kubectl("scale", "deployment/finance-api", "--replicas=2", "-n", dest_namespace)
    st = await apps.wait(
        name,
        lambda s: s.get("sync", {}).get("status") == "OutOfSync",
        "OutOfSync after kubectl scale",
    )
    drifted = [r for r in st["resources"] if r["status"] == "OutOfSync"]
    assert [(r["kind"], r["name"]) for r in drifted] == [("Deployment", "finance-api")]

    # More passes (a poll, a live change) must not revert it.
    passes = controller.metrics.reconciles
    kubectl("annotate", "deployment/finance-api", "-n", dest_namespace, "touched=yes")
    await await_for(lambda: _after(controller, passes + 3), what="three more reconciles")
    assert (await _deployment(apps.kube, dest_namespace))["spec"]["replicas"] == 2
    assert await apps.events(name, "DriftReverted") == []
    assert (await apps.status(name))["sync"]["status"] == "OutOfSync"


async def _after(controller: Controller, count: int) -> bool:
    return controller.metrics.reconciles >= count


async def test_replicasets_and_pods_are_never_drift_and_never_pruned(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    """Even when the pod template carries the instance label (so ReplicaSets and
    Pods carry it too), objects with a controlling owner are not the app's."""
    files = example_files()
    deployment = "apps/finance/deployment.yaml"
    files[deployment] = files[deployment].replace(
        "      labels:\n        app.kubernetes.io/name: finance-api\n"
        "        app.kubernetes.io/part-of: finance-app\n    spec:",
        "      labels:\n        app.kubernetes.io/name: finance-api\n"
        "        app.kubernetes.io/part-of: finance-app\n"
        "        app.tether.dev/instance: PLACEHOLDER\n    spec:",
    )
    name = "heal-owned"
    files[deployment] = files[deployment].replace("PLACEHOLDER", name)
    git_repo.commit(files)
    await apps.create(git_repo.git_url, dest=dest_namespace, automated=SELF_HEAL, name=name)
    await apps.wait_synced(name, healthy=True)

    async def owned(kind: str, api_version: str) -> list[dict[str, Any]]:
        api = await apps.kube.resource_for(api_version, kind)
        items, _ = await apps.kube.list(api, dest_namespace)
        return [o for o in items if not o["metadata"].get("deletionTimestamp")]

    rs_before = await owned("ReplicaSet", "apps/v1")
    pods_before = await owned("Pod", "v1")
    assert rs_before and pods_before
    assert all(
        o["metadata"]["labels"].get("app.tether.dev/instance") == name
        for o in rs_before + pods_before
    )

    # A new commit with prune on: the owned objects are neither pruned nor recreated.
    files["apps/finance/configmap.yaml"] = files["apps/finance/configmap.yaml"].replace(
        "LOG_LEVEL: info", "LOG_LEVEL: warn"
    )
    sha = git_repo.commit(files, message="log level warn")
    st = await apps.wait_synced(name, healthy=True, revision=sha)
    kinds = {r["kind"] for r in st["resources"]}
    assert kinds == {"ConfigMap", "Deployment", "Service"}
    assert not any(r.get("requiresPruning") for r in st["resources"])
    assert all(entry.split("|")[1] not in ("ReplicaSet", "Pod") for entry in st["inventory"])
    assert {o["metadata"]["uid"] for o in await owned("ReplicaSet", "apps/v1")} == {
        o["metadata"]["uid"] for o in rs_before
    }
    assert {o["metadata"]["uid"] for o in await owned("Pod", "v1")} == {
        o["metadata"]["uid"] for o in pods_before
    }
    assert await apps.events(name, "DriftReverted") == []
