"""Sync hooks on the real control plane: a migration before the code, a smoke test after.

Jobs run on kwok nodes: the kube-controller-manager's Job controller makes
their Pods, kwok completes them (or fails them: Pod label
``testenv.tether.dev/simulate: fail``), and the Job controller marks the Job
Complete or Failed, as on a real cluster. Order is read from the API server's
resourceVersions (``order_recorder``), never from sleeps.
"""

from __future__ import annotations

from typing import Any

import yaml
from order_recorder import (
    condition_true,
    deployment_available,
    recording,
)

from fixtures.tether import Apps, condition, example_files
from tether.controller.service import AppService

DEPLOYMENT = "apps/finance/deployment.yaml"
NEW_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/finance-api:1.5"
KINDS = [("apps/v1", "Deployment"), ("batch/v1", "Job")]


def hook_job(
    name: str,
    hook: str,
    *,
    annotation: str = "argocd.argoproj.io/hook",
    policy: str | None = None,
    fail_with: tuple[int, str] | None = None,
    generate: bool = False,
) -> str:
    notes: dict[str, str] = {annotation: hook}
    if policy:
        notes["argocd.argoproj.io/hook-delete-policy"] = policy
    pod_meta: dict[str, Any] = {"labels": {"job": name}}
    if fail_with is not None:
        pod_meta["labels"]["testenv.tether.dev/simulate"] = "fail"
        pod_meta["annotations"] = {
            "testenv.tether.dev/exit-code": str(fail_with[0]),
            "testenv.tether.dev/message": fail_with[1],
        }
    meta: dict[str, Any] = {"annotations": notes}
    meta["generateName" if generate else "name"] = f"{name}-" if generate else name
    return yaml.safe_dump(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta,
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": pod_meta,
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": name,
                                "image": "finance-api:1.5",
                                "terminationMessagePolicy": "FallbackToLogsOnError",
                            }
                        ],
                    },
                },
            },
        }
    )


def finance_v2(*, migration: str) -> dict[str, str]:
    files = example_files()
    files[DEPLOYMENT] = files[DEPLOYMENT].replace("finance-api:1.4", "finance-api:1.5")
    files["apps/finance/hook-migrate.yaml"] = migration
    files["apps/finance/hook-notify.yaml"] = hook_job("notify-failure", "SyncFail")
    return files


def op_done(sha: str) -> Any:
    def check(st: dict[str, Any]) -> bool:
        op = st.get("operationState") or {}
        return op.get("revision") == sha and op.get("phase") in ("Succeeded", "Failed", "Error")

    return check


async def wait_finished(apps: Apps, name: str, sha: str) -> dict[str, Any]:
    try:
        return await apps.wait(name, op_done(sha), "the sync finished", timeout=120)
    except AssertionError as exc:
        st = await apps.status(name)
        state, conditions = st.get("operationState"), st.get("conditions")
        raise AssertionError(f"{exc}\noperationState: {state}\nconditions: {conditions}") from None


async def deployed_v1(git_repo: Any, apps: Apps, dest: str) -> tuple[str, int]:
    git_repo.commit(example_files())
    name = await apps.create(git_repo.git_url, dest=dest, automated={"selfHeal": True})
    await apps.wait_synced(name, healthy=True)
    deployment = await apps.kube.get("apps/v1", "Deployment", "finance-api", dest)
    return name, int(deployment["metadata"]["generation"])


async def test_presync_migration_completes_before_the_deployment_changes_and_postsync_after_health(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    name, generation = await deployed_v1(git_repo, apps, dest_namespace)
    files = finance_v2(migration=hook_job("migrate", "PreSync"))
    # The Tether spelling of the annotation; generateName: a new Job every sync.
    files["apps/finance/hook-smoke.yaml"] = hook_job(
        "smoke", "PostSync", annotation="tether.dev/hook", policy="HookSucceeded", generate=True
    )
    async with recording(apps.kube, dest_namespace, KINDS) as seen:
        sha = git_repo.commit(files, message="finance 1.5 with a migration")
        st = await wait_finished(apps, name, sha)

    assert st["operationState"]["phase"] == "Succeeded", st["operationState"]
    migrated = seen.first("Job", "migrate", lambda o: condition_true(o, "Complete"), "completed")
    changed = seen.first(
        "Deployment",
        "finance-api",
        lambda o: o["metadata"]["generation"] == generation + 1,
        "changed",
    )
    assert migrated < changed, "the Deployment changed before the migration completed"
    healthy = seen.first(
        "Deployment", "finance-api", deployment_available(generation + 1), "became available"
    )
    smoke_created = seen.created("Job", "smoke-")
    assert healthy < smoke_created, "the PostSync smoke test started before the app was healthy"
    # HookSucceeded: the smoke Job is gone; BeforeHookCreation (the default) keeps migrate.
    assert any(e.type == "DELETED" for e in seen.of("Job", "smoke-"))
    assert await apps.kube.get_or_none("batch/v1", "Job", "migrate", dest_namespace) is not None
    # The SyncFail hook never ran, and no hook is part of the app's desired state.
    assert not seen.of("Job", "notify-failure")
    assert not any(r["kind"] == "Job" for r in st["resources"])
    assert not any("|Job|" in entry for entry in st["inventory"])
    hooks = {
        (r["hookType"], r["hookPhase"])
        for r in st["operationState"]["syncResult"]["resources"]
        if r.get("hookType")
    }
    assert hooks == {("PreSync", "Succeeded"), ("PostSync", "Succeeded")}
    recorded = st["history"][-1]["hooks"]
    assert {(h["hookType"], h["kind"]) for h in recorded} == {
        ("PreSync", "Job"),
        ("PostSync", "Job"),
    }


async def test_failed_migration_leaves_the_deployment_untouched_runs_syncfail_and_is_explained(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    name, generation = await deployed_v1(git_repo, apps, dest_namespace)
    failing = hook_job(
        "migrate", "PreSync", fail_with=(3, "applying 0042_add_ledger\nERROR: relation exists")
    )
    async with recording(apps.kube, dest_namespace, KINDS) as seen:
        sha = git_repo.commit(finance_v2(migration=failing), message="a migration that fails")
        st = await wait_finished(apps, name, sha)

    op = st["operationState"]
    assert op["phase"] == "Failed", op
    assert "PreSync hook Job migrate failed" in op["message"]
    assert "exited with code 3" in op["message"]
    error = condition(st, "SyncError")
    assert error is not None and "PreSync hook Job migrate failed" in error["message"]
    deployment = await apps.kube.get("apps/v1", "Deployment", "finance-api", dest_namespace)
    assert deployment["metadata"]["generation"] == generation
    assert "finance-api:1.4" in str(deployment["spec"]["template"])
    # The SyncFail hook ran, after the migration failed.
    failed_at = seen.first("Job", "migrate", lambda o: condition_true(o, "Failed"), "failed")
    assert seen.created("Job", "notify-failure") > failed_at
    notify = next(r for r in op["syncResult"]["resources"] if r.get("hookType") == "SyncFail")
    assert notify["hookPhase"] == "Succeeded"

    explained = await service.explain(name)
    text = explained["text"]
    assert "PreSync hook Job migrate" in text, text
    assert "container migrate exits with code 3" in text, text
    assert "ERROR: relation exists" in text, text
    tree = await service.tree(name)
    hook_nodes = [n for n in tree["nodes"] if n["role"] == "hook"]
    assert {n["name"] for n in hook_nodes} >= {"migrate", "notify-failure"}


async def test_a_hook_never_replaces_an_object_that_is_not_the_apps(
    git_repo: Any, apps: Apps, kubectl: Any, dest_namespace: str
) -> None:
    kubectl("create", "namespace", dest_namespace)
    kubectl("create", "job", "migrate", "--image=tools:1", "-n", dest_namespace)
    before = await apps.kube.get("batch/v1", "Job", "migrate", dest_namespace)
    sha = git_repo.commit(
        {
            "apps/finance/configmap.yaml": example_files()["apps/finance/configmap.yaml"],
            "apps/finance/hook-migrate.yaml": hook_job("migrate", "PreSync"),
        }
    )
    name = await apps.create(git_repo.git_url, dest=dest_namespace, automated={})
    st = await wait_finished(apps, name, sha)

    assert st["operationState"]["phase"] == "Failed"
    assert "Job migrate exists and is not this app's" in st["operationState"]["message"]
    after = await apps.kube.get("batch/v1", "Job", "migrate", dest_namespace)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    config = await apps.kube.get_or_none("v1", "ConfigMap", "finance-api-config", dest_namespace)
    assert config is None, "the sync went on after its PreSync hook failed"
