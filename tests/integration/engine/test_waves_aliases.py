"""Argo CD's annotations and their tether.dev spellings give the same sync, step for step."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from order_recorder import condition_true, recording

from fixtures.tether import Apps

KINDS = [("v1", "ConfigMap"), ("batch/v1", "Job")]


def files(prefix: str) -> dict[str, str]:
    def config_map(name: str, wave: str) -> str:
        meta = {"name": name, "annotations": {f"{prefix}/sync-wave": wave}}
        return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})

    hook = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "prepare",
            "annotations": {
                f"{prefix}/hook": "PreSync",
                f"{prefix}/hook-delete-policy": "HookSucceeded",
            },
        },
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "p", "image": "p:1"}]}
            }
        },
    }
    return {
        "apps/alias/first.yaml": config_map("first", "-1"),
        "apps/alias/second.yaml": config_map("second", "1"),
        "apps/alias/prepare.yaml": yaml.safe_dump(hook),
    }


def finished(st: dict[str, Any]) -> bool:
    return (st.get("operationState") or {}).get("phase") in ("Succeeded", "Failed", "Error")


@pytest.mark.parametrize("prefix", ["argocd.argoproj.io", "tether.dev"])
async def test_argo_cd_annotations_and_tether_aliases_order_the_sync_the_same(
    prefix: str, git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    git_repo.commit(files(prefix))
    async with recording(apps.kube, dest_namespace, KINDS) as seen:
        name = await apps.create(git_repo.git_url, path="apps/alias", dest=dest_namespace)
        await apps.kube.merge_patch(
            "tether.dev/v1alpha1",
            "Application",
            name,
            {"operation": {"sync": {}, "initiatedBy": {"username": "test"}}},
            "tether",
        )
        st = await apps.wait(name, finished, "the sync finished", timeout=90)

    op = st["operationState"]
    assert op["phase"] == "Succeeded", op
    prepared = seen.first("Job", "prepare", lambda o: condition_true(o, "Complete"), "completed")
    assert prepared < seen.created("ConfigMap", "first") < seen.created("ConfigMap", "second")
    assert any(e.type == "DELETED" for e in seen.of("Job", "prepare"))  # HookSucceeded
    results = sorted(
        (r["kind"], r["name"], r.get("wave"), r.get("hookType", ""), r.get("hookPhase", ""))
        for r in op["syncResult"]["resources"]
    )
    assert results == [
        ("ConfigMap", "first", -1, "", ""),
        ("ConfigMap", "second", 1, "", ""),
        ("Job", "prepare", 0, "PreSync", "Succeeded"),
    ]
