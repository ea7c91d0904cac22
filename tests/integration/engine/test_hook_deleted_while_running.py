"""A hook Job deleted by someone while it runs fails the sync at once, naming the Job,
instead of leaving the sync waiting out its step timeout for a hook that is gone
(Argo CD fails it too)."""

from __future__ import annotations

from typing import Any

import yaml

from fixtures.tether import Apps, example_files

MIGRATION = yaml.safe_dump(
    {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "annotations": {"argocd.argoproj.io/hook": "PreSync"}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                # kwok keeps this Pod running and never ready: the migration never ends.
                "metadata": {"labels": {"testenv.tether.dev/simulate": "not-ready"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": "finance-api:1.5"}],
                },
            },
        },
    }
)


def hook_entry(st: dict[str, Any]) -> dict[str, Any]:
    resources = ((st.get("operationState") or {}).get("syncResult") or {}).get("resources") or []
    return next((r for r in resources if r.get("hookType") == "PreSync"), {})


async def test_a_hook_deleted_while_it_runs_fails_the_sync_naming_it(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    files = example_files()
    files["apps/finance/hook-migrate.yaml"] = MIGRATION
    git_repo.commit(files)
    name = await apps.create(git_repo.git_url, dest=dest_namespace, automated={})
    await apps.wait(
        name,
        lambda st: hook_entry(st).get("hookPhase") == "Running" and hook_entry(st).get("seen"),
        "the migration running",
    )
    await apps.kube.delete("batch/v1", "Job", "migrate", dest_namespace)
    st = await apps.wait(
        name,
        lambda st: (st.get("operationState") or {}).get("phase") in ("Failed", "Error"),
        "the sync failed",
        timeout=60,  # the step timeout is 5 minutes: failing comes from seeing it gone
    )
    op = st["operationState"]
    assert "Job migrate was deleted while it ran" in op["message"], op
    assert hook_entry(st)["hookPhase"] == "Failed"
    deployment = await apps.kube.get_or_none("apps/v1", "Deployment", "finance-api", dest_namespace)
    assert deployment is None, "the sync went on past a PreSync hook that never finished"
