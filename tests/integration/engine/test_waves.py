"""Sync waves on the real control plane: each wave waits until the previous one is healthy.

The wave-0 Deployment's Pods carry ``testenv.tether.dev/simulate: slow-ready``,
so kwok makes them Ready only seconds after they are scheduled. Order is read
from the API server's resourceVersions (``order_recorder``), not from sleeps.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import yaml
from order_recorder import deployment_available, recording

from fixtures.tether import APP_NS, Apps, _running_controller, condition
from tether.controller.runtime import Controller
from tether.engine import application as appmodel
from tether.testenv import cluster as localcluster

KINDS = [("apps/v1", "Deployment"), ("v1", "ConfigMap")]


def config_map(name: str, notes: dict[str, str] | None = None) -> str:
    meta: dict[str, Any] = {"name": name}
    if notes:
        meta["annotations"] = notes
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {}})


def deployment(name: str, simulate: str, notes: dict[str, str] | None = None) -> str:
    meta: dict[str, Any] = {"name": name}
    if notes:
        meta["annotations"] = notes
    labels = {"app": name, "testenv.tether.dev/simulate": simulate}
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "app", "image": "api:1"}]},
                },
            },
        }
    )


def waved_files(simulate: str = "slow-ready") -> dict[str, str]:
    return {
        # Argo CD's annotation on one, Tether's alias on the other: the same behaviour.
        "apps/waves/schema.yaml": config_map("schema", {"argocd.argoproj.io/sync-wave": "-1"}),
        "apps/waves/api.yaml": deployment("api", simulate),
        "apps/waves/after.yaml": config_map("after-api", {"tether.dev/sync-wave": "1"}),
    }


async def create_app(
    apps: Apps, repo_url: str, dest: str, annotations: dict[str, str] | None = None
) -> str:
    name = f"waves-{secrets.token_hex(3)}"
    await apps.kube.create(
        {
            "apiVersion": appmodel.API_VERSION,
            "kind": appmodel.KIND,
            "metadata": {"name": name, "namespace": APP_NS, "annotations": annotations or {}},
            "spec": {
                "source": {"repoURL": repo_url, "path": "apps/waves", "targetRevision": "main"},
                "destination": {"namespace": dest},
                "syncPolicy": {
                    "automated": {"prune": True},
                    "syncOptions": ["CreateNamespace=true"],
                },
            },
        }
    )
    apps.created.append(name)
    return name


def finished(st: dict[str, Any]) -> bool:
    return (st.get("operationState") or {}).get("phase") in ("Succeeded", "Failed", "Error")


async def test_waves_apply_in_order_each_after_the_previous_is_healthy(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    git_repo.commit(waved_files())
    async with recording(apps.kube, dest_namespace, KINDS) as seen:
        name = await create_app(apps, git_repo.git_url, dest_namespace)
        st = await apps.wait(name, finished, "the sync finished", timeout=120)

    assert st["operationState"]["phase"] == "Succeeded", st["operationState"]
    assert seen.created("ConfigMap", "schema") < seen.created("Deployment", "api")
    api_healthy = seen.first("Deployment", "api", deployment_available(1), "became available")
    assert api_healthy < seen.created("ConfigMap", "after-api")
    waves = {
        r["name"]: r.get("wave", 0)
        for r in st["operationState"]["syncResult"]["resources"]
        if r.get("status") == "Synced"
    }
    assert waves == {"schema": -1, "api": 0, "after-api": 1}


async def test_a_wave_that_never_becomes_healthy_fails_the_sync_naming_wave_and_object(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    git_repo.commit(waved_files(simulate="not-ready"))
    name = await create_app(
        apps,
        git_repo.git_url,
        dest_namespace,
        {"tether.dev/sync-health-timeout": "6s"},
    )
    st = await apps.wait(name, finished, "the sync finished", timeout=120)

    op = st["operationState"]
    assert op["phase"] == "Failed", op
    assert "wave 0 of the Sync phase was not done within 6s" in op["message"]
    assert "Deployment api is Progressing" in op["message"]
    error = condition(st, "SyncError")
    assert error is not None and "wave 0 of the Sync phase" in error["message"]
    # The next wave was never applied.
    assert await apps.kube.get_or_none("v1", "ConfigMap", "after-api", dest_namespace) is None


async def test_a_running_sync_is_kept_in_status_and_pruning_goes_in_reverse_wave_order(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    git_repo.commit(waved_files())
    name = await create_app(apps, git_repo.git_url, dest_namespace)

    def running_wave_0(st: dict[str, Any]) -> bool:
        op = st.get("operationState") or {}
        return op.get("phase") == "Running" and "wave 0 of the Sync phase" in str(op.get("message"))

    st = await apps.wait(name, running_wave_0, "a running sync waiting on wave 0", timeout=60)
    assert st["operationState"]["steps"][st["operationState"]["step"]] == "Sync/apply/0"
    await apps.wait(name, finished, "the sync finished", timeout=120)

    # Everything leaves Git: prunes go wave 1, then 0, then -1.
    async with recording(apps.kube, dest_namespace, KINDS) as seen:
        sha = git_repo.commit(
            {"apps/waves/keep.yaml": config_map("keep")}
            | {f"apps/waves/{f}": None for f in ("schema.yaml", "api.yaml", "after.yaml")}
        )
        st = await apps.wait(
            name,
            lambda s: finished(s) and s["operationState"].get("revision") == sha,
            "the pruning sync finished",
            timeout=120,
        )
    assert st["operationState"]["phase"] == "Succeeded", st["operationState"]

    def deleted(kind: str, obj_name: str) -> int:
        return next(e.rv for e in seen.of(kind, obj_name) if e.type == "DELETED")

    assert deleted("ConfigMap", "after-api") < deleted("Deployment", "api")
    assert deleted("Deployment", "api") < deleted("ConfigMap", "schema")


async def test_a_new_leader_continues_the_running_sync_without_running_its_hooks_again(
    git_repo: Any,
    apps: Apps,
    controller: Controller,
    installed: localcluster.ClusterState,
    tmp_path: Path,
    dest_namespace: str,
) -> None:
    hook = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": "prepare-",
            "annotations": {"argocd.argoproj.io/hook": "PreSync"},
        },
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "p", "image": "p:1"}]}
            }
        },
    }
    git_repo.commit(waved_files() | {"apps/waves/prepare.yaml": yaml.safe_dump(hook)})
    name = await create_app(apps, git_repo.git_url, dest_namespace)

    def waiting_on_wave_0(st: dict[str, Any]) -> bool:
        op = st.get("operationState") or {}
        return op.get("phase") == "Running" and "wave 0 of the Sync phase" in str(op.get("message"))

    await apps.wait(name, waiting_on_wave_0, "a running sync waiting on wave 0", timeout=60)
    await controller.follow()  # this replica stops leading in the middle of the sync
    schema = await apps.kube.get("v1", "ConfigMap", "schema", dest_namespace)

    second = _running_controller(installed, tmp_path / "second", 3.0)
    await second.__anext__()
    try:
        st = await apps.wait(name, finished, "the sync finished", timeout=120)
    finally:
        await second.aclose()

    assert st["operationState"]["phase"] == "Succeeded", st["operationState"]
    assert await apps.kube.get_or_none("v1", "ConfigMap", "after-api", dest_namespace)
    again = await apps.kube.get("v1", "ConfigMap", "schema", dest_namespace)
    assert again["metadata"]["resourceVersion"] == schema["metadata"]["resourceVersion"]
    api = await apps.kube.resource_for("batch/v1", "Job")
    jobs, _ = await apps.kube.list(api, dest_namespace)
    assert [j["metadata"]["generateName"] for j in jobs] == ["prepare-"], "the hook ran twice"
    assert len(st["history"]) == 1
