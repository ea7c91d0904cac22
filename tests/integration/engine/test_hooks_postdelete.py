"""PostDelete hooks on the real control plane: they run after the app's resources are gone.

An Application with the resources finalizer is deleted: its resources go
first, then its PostDelete Job is created and completes (kwok), and only then
the Application itself goes. A failing PostDelete Job keeps the Application,
with a condition naming the Job and its exit code. Order is read from the API
server's resourceVersions (``order_recorder``), never from sleeps.
"""

from __future__ import annotations

from typing import Any

from order_recorder import condition_true, recording
from test_hooks import hook_job

from fixtures.tether import APP_NS, Apps, condition, example_files
from fixtures.waiting import await_for
from tether.engine import application as appmodel

FINALIZER = "resources-finalizer.argocd.argoproj.io"
KINDS = [("apps/v1", "Deployment"), ("batch/v1", "Job")]


async def deployed_with_finalizer(git_repo: Any, apps: Apps, dest: str, cleanup: str) -> str:
    files = example_files()
    files["apps/finance/hook-cleanup.yaml"] = cleanup
    git_repo.commit(files, message="finance with a PostDelete cleanup")
    name = await apps.create(git_repo.git_url, dest=dest, automated={})
    await apps.wait_synced(name, healthy=True)
    await apps.kube.merge_patch(
        appmodel.API_VERSION, appmodel.KIND, name, {"metadata": {"finalizers": [FINALIZER]}}, APP_NS
    )
    return name


async def gone(apps: Apps, api_version: str, kind: str, name: str, namespace: str) -> None:
    async def probe() -> bool | None:
        return (
            True
            if await apps.kube.get_or_none(api_version, kind, name, namespace) is None
            else None
        )

    await await_for(probe, timeout=120, what=f"{kind} {name} gone")


async def test_postdelete_job_runs_after_the_resources_are_gone_and_before_the_app_goes(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    name = await deployed_with_finalizer(
        git_repo, apps, dest_namespace, hook_job("cleanup", "PostDelete")
    )
    # A PostDelete hook is not run by a sync.
    assert await apps.kube.get_or_none("batch/v1", "Job", "cleanup", dest_namespace) is None

    async with recording(apps.kube, dest_namespace, KINDS) as seen:
        await apps.kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
        await gone(apps, appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
        # Deleted after it succeeded (Argo CD's default policy for PostDelete hooks).
        await gone(apps, "batch/v1", "Job", "cleanup", dest_namespace)

    deployment_gone = next(
        e.rv for e in seen.of("Deployment", "finance-api") if e.type == "DELETED"
    )
    created = seen.created("Job", "cleanup")
    completed = seen.first("Job", "cleanup", lambda o: condition_true(o, "Complete"), "completed")
    assert deployment_gone < created < completed


async def test_a_failing_postdelete_job_keeps_the_app_with_a_condition_naming_it(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    failing = hook_job("cleanup", "PostDelete", fail_with=(4, "cannot reach the billing API"))
    name = await deployed_with_finalizer(git_repo, apps, dest_namespace, failing)

    await apps.kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
    st = await apps.wait(
        name, lambda s: condition(s, "PostDeleteHookFailed") is not None, "hook failed", 120
    )

    message = condition(st, "PostDeleteHookFailed")["message"]  # type: ignore[index]
    assert "Job/cleanup" in message and "exited with code 4" in message, message
    app = await apps.get(name)
    assert app["metadata"]["finalizers"] == [FINALIZER]
    assert (
        await apps.kube.get_or_none("apps/v1", "Deployment", "finance-api", dest_namespace) is None
    )
    # The way out: drop the finalizer by hand; the app goes, the failed Job stays to be read.
    await apps.kube.merge_patch(
        appmodel.API_VERSION, appmodel.KIND, name, {"metadata": {"finalizers": None}}, APP_NS
    )
    await gone(apps, appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
    assert await apps.kube.get_or_none("batch/v1", "Job", "cleanup", dest_namespace) is not None
