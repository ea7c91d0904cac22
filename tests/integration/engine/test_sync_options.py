"""Sync requests and sync options, each against the real API server."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from typing import Any

from fixtures.tether import CRDS_ALLOWED, Apps, Projects, example_files
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.runtime import Controller
from tether.controller.service import AppService, SyncRequest

Kubectl = Callable[..., str]
CONFIGMAP = "apps/finance/configmap.yaml"
AUTO = {"prune": True, "selfHeal": True}


async def _get(kube: KubeClient, kind: str, name: str, ns: str) -> dict[str, Any] | None:
    api_version = {"Deployment": "apps/v1"}.get(kind, "v1")
    return await kube.get_or_none(api_version, kind, name, ns)


async def _log_level(kube: KubeClient, ns: str) -> str:
    cm = await _get(kube, "ConfigMap", "finance-api-config", ns)
    return str((cm or {}).get("data", {}).get("LOG_LEVEL", ""))


async def test_manual_sync_of_one_resource_applies_only_that_resource(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(git_repo.git_url, dest=dest_namespace)
    await apps.wait(name, lambda s: s.get("sync", {}).get("status") == "OutOfSync", "OutOfSync")

    state = await service.sync(
        name, SyncRequest(resources=("ConfigMap/finance-api-config",)), initiated_by="tester"
    )
    assert state["phase"] == "Succeeded", state
    assert "applied 1" in state["message"]
    assert await _get(apps.kube, "ConfigMap", "finance-api-config", dest_namespace)
    assert await _get(apps.kube, "Deployment", "finance-api", dest_namespace) is None
    assert await _get(apps.kube, "Service", "finance-api", dest_namespace) is None
    st = await apps.wait(name, lambda s: s["sync"]["status"] == "OutOfSync", "still OutOfSync")
    by_kind = {r["kind"]: r["status"] for r in st["resources"]}
    assert by_kind == {"ConfigMap": "Synced", "Deployment": "OutOfSync", "Service": "OutOfSync"}


async def test_sync_to_a_tag_and_to_an_older_sha(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    files = example_files()
    first = git_repo.commit(files, message="info")
    git_repo.tag("v1.0", annotated=True)
    second = git_repo.commit(
        {CONFIGMAP: files[CONFIGMAP].replace("info", "debug")}, message="debug"
    )
    third = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "warn")}, message="warn")
    name = await apps.create(git_repo.git_url, dest=dest_namespace)

    state = await service.sync(name, SyncRequest(revision="v1.0"), initiated_by="tester")
    assert state["phase"] == "Succeeded" and state["revision"] == first, state
    assert await _log_level(apps.kube, dest_namespace) == "info"

    state = await service.sync(name, SyncRequest(revision=second), initiated_by="tester")
    assert state["revision"] == second
    assert await _log_level(apps.kube, dest_namespace) == "debug"

    state = await service.sync(name, SyncRequest(revision=first[:12]), initiated_by="tester")
    assert state["revision"] == first
    assert await _log_level(apps.kube, dest_namespace) == "info"

    state = await service.sync(name, SyncRequest(), initiated_by="tester")
    assert state["revision"] == third
    assert await _log_level(apps.kube, dest_namespace) == "warn"
    history = await service.history(name)
    assert [h["revision"] for h in history] == [first, second, first, third]


async def test_dry_run_sync_changes_nothing(
    git_repo: Any, apps: Apps, service: AppService, namespace: str
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(git_repo.git_url, dest=namespace, options=[])
    state = await service.sync(name, SyncRequest(dry_run=True), initiated_by="tester")
    assert state["phase"] == "Succeeded", state
    assert state["dryRun"] is True and state["message"].startswith("dry run:")
    for kind, obj in (
        ("ConfigMap", "finance-api-config"),
        ("Deployment", "finance-api"),
        ("Service", "finance-api"),
    ):
        assert await _get(apps.kube, kind, obj, namespace) is None, f"{kind} was created"
    st = await apps.status(name)
    assert st["sync"]["status"] == "OutOfSync"
    assert not st.get("history") and not st.get("inventory")


async def test_dry_run_sync_into_a_namespace_still_to_create_changes_nothing(
    git_repo: Any, apps: Apps, service: AppService, kube: KubeClient, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(git_repo.git_url, dest=dest_namespace)
    state = await service.sync(name, SyncRequest(dry_run=True), initiated_by="tester")
    assert state["phase"] == "Succeeded", state
    assert await kube.get_or_none("v1", "Namespace", dest_namespace) is None


async def test_apply_out_of_sync_only_applies_just_the_changed_object(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    files = example_files()
    git_repo.commit(files)
    name = await apps.create(
        git_repo.git_url,
        dest=dest_namespace,
        automated=AUTO,
        options=["CreateNamespace=true", "ApplyOutOfSyncOnly=true"],
    )
    st = await apps.wait_synced(name)
    assert "applied 3" in st["operationState"]["message"]
    sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "debug")})
    st = await apps.wait_synced(name, revision=sha)
    assert "applied 1" in st["operationState"]["message"], st["operationState"]
    assert await _log_level(apps.kube, dest_namespace) == "debug"


async def test_replace_true_replaces_whole_objects_dropping_foreign_fields(
    git_repo: Any, apps: Apps, kubectl: Kubectl, dest_namespace: str
) -> None:
    files = example_files()
    git_repo.commit(files)
    name = await apps.create(
        git_repo.git_url,
        dest=dest_namespace,
        automated=AUTO,
        options=["CreateNamespace=true", "Replace=true"],
    )
    await apps.wait_synced(name)
    kubectl("label", "configmap", "finance-api-config", "-n", dest_namespace, "added-by=hand")
    sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "debug")})
    await apps.wait_synced(name, revision=sha)
    cm = await _get(apps.kube, "ConfigMap", "finance-api-config", dest_namespace)
    assert cm is not None and cm["data"]["LOG_LEVEL"] == "debug"
    assert "added-by" not in cm["metadata"]["labels"], "replace keeps nothing it was not given"
    assert all(m.get("operation") != "Apply" for m in cm["metadata"]["managedFields"])
    svc = await _get(apps.kube, "Service", "finance-api", dest_namespace)
    assert svc is not None and svc["spec"].get("clusterIP")


async def test_without_create_namespace_a_missing_namespace_fails_the_sync_by_name(
    git_repo: Any, apps: Apps, service: AppService, kube: KubeClient, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(git_repo.git_url, dest=dest_namespace, options=[])
    state = await service.sync(name, SyncRequest(), initiated_by="tester")
    assert state["phase"] == "Failed", state
    assert dest_namespace in state["message"]
    assert await kube.get_or_none("v1", "Namespace", dest_namespace) is None


async def test_create_namespace_creates_the_destination(
    git_repo: Any, apps: Apps, service: AppService, kube: KubeClient, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(
        git_repo.git_url, dest=dest_namespace, options=["CreateNamespace=true"]
    )
    state = await service.sync(name, SyncRequest(), initiated_by="tester")
    assert state["phase"] == "Succeeded", state
    assert await kube.get_or_none("v1", "Namespace", dest_namespace) is not None
    assert await _get(kube, "Deployment", "finance-api", dest_namespace) is not None


async def test_a_crd_and_its_custom_resource_in_one_commit_sync_in_one_go(
    git_repo: Any, apps: Apps, kube: KubeClient, dest_namespace: str, make_project: Projects
) -> None:
    group = f"g{secrets.token_hex(4)}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"budgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "budgets", "singular": "budget", "kind": "Budget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"limit": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    budget = {
        "apiVersion": f"{group}/v1",
        "kind": "Budget",
        "metadata": {"name": "q3"},
        "spec": {"limit": 1000},
    }
    files = example_files() | {
        "apps/finance/crd.yaml": json.dumps(crd),
        "apps/finance/budget.yaml": json.dumps(budget),
    }
    git_repo.commit(files, message="CRD and a Budget")
    # CRDs are cluster-scoped: only a project that lists them may deploy them.
    project = await make_project.create(clusterResourceWhitelist=CRDS_ALLOWED)
    name = await apps.create(
        git_repo.git_url, dest=dest_namespace, automated=AUTO, extra={"project": project}
    )
    try:
        st = await apps.wait_synced(name)
        assert st["operationState"]["phase"] == "Succeeded"
        assert [h["id"] for h in st["history"]] == [1], "one sync, not one per wave"
        cr = await kube.get(f"{group}/v1", "Budget", "q3", dest_namespace)
        assert cr["spec"]["limit"] == 1000
        kinds = {r["kind"]: r["status"] for r in st["resources"]}
        assert kinds["Budget"] == "Synced" and kinds["CustomResourceDefinition"] == "Synced"
    finally:
        await kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"budgets.{group}")


async def test_ignore_differences_json_pointer_keeps_a_scaled_deployment_synced(
    git_repo: Any, apps: Apps, kubectl: Kubectl, controller: Controller, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(
        git_repo.git_url,
        dest=dest_namespace,
        automated=AUTO,
        extra={
            "ignoreDifferences": [
                {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
            ]
        },
    )
    await apps.wait_synced(name)
    kubectl("scale", "deployment/finance-api", "--replicas=3", "-n", dest_namespace)
    passes = controller.metrics.reconciles
    await await_for(lambda: _after(controller, passes + 2), what="two more passes")
    st = await apps.status(name)
    assert st["sync"]["status"] == "Synced", st["resources"]
    dep = await _get(apps.kube, "Deployment", "finance-api", dest_namespace)
    assert dep is not None and dep["spec"]["replicas"] == 3
    assert await apps.events(name, "DriftReverted") == []


async def _after(controller: Controller, count: int) -> bool:
    return controller.metrics.reconciles >= count


async def test_secret_values_are_masked_in_the_diff(
    git_repo: Any, apps: Apps, service: AppService, kubectl: Kubectl, dest_namespace: str
) -> None:
    git_value, live_value = "hunter2-from-git", "changed-by-hand"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "type": "Opaque",
        "data": {"password": base64.b64encode(git_value.encode()).decode()},
    }
    git_repo.commit(example_files() | {"apps/finance/secret.yaml": json.dumps(secret)})
    name = await apps.create(git_repo.git_url, dest=dest_namespace)
    await apps.wait(name, lambda s: s.get("sync", {}).get("status") == "OutOfSync", "OutOfSync")

    def secret_diff(diffs: list[dict[str, Any]]) -> str:
        text = next(d["diff"] for d in diffs if d["kind"] == "Secret")
        for leaked in (git_value, live_value):
            assert leaked not in text
            assert base64.b64encode(leaked.encode()).decode() not in text
        return str(text)

    assert "++++++++" in secret_diff(await service.diff(name))
    state = await service.sync(name, SyncRequest(), initiated_by="tester")
    assert state["phase"] == "Succeeded", state
    kubectl(
        "patch",
        "secret",
        "db",
        "-n",
        dest_namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"stringData": {"password": live_value}}),
    )

    async def secret_out_of_sync() -> bool:
        return any(
            d["kind"] == "Secret" and d["status"] == "OutOfSync" for d in await service.diff(name)
        )

    await await_for(secret_out_of_sync, what="the Secret differs")
    secret_diff(await service.diff(name))
