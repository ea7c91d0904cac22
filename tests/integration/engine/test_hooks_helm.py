"""Helm hooks, mapped as Argo CD maps them, from a local chart in a Git repository.

pre-install/pre-upgrade run as PreSync in ``helm.sh/hook-weight`` order,
post-install/post-upgrade as PostSync after the app is healthy,
``hook-succeeded`` deletes a hook once it succeeded, and a ``test`` hook is
never created. Order is read from resourceVersions (``order_recorder``).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from order_recorder import condition_true, deployment_available, recording

from fixtures.tether import Apps
from tether.testenv.binaries import helm_path

KINDS = [("apps/v1", "Deployment"), ("batch/v1", "Job"), ("v1", "ConfigMap"), ("v1", "Pod")]


def helm_job(name: str, hook: str, weight: str | None = None, policy: str | None = None) -> str:
    notes = {"helm.sh/hook": hook}
    if weight is not None:
        notes["helm.sh/hook-weight"] = weight
    if policy is not None:
        notes["helm.sh/hook-delete-policy"] = policy
    return yaml.safe_dump(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "annotations": notes},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "run", "image": "tools:1"}],
                    }
                },
            },
        }
    )


CHART = {
    "apps/chart/Chart.yaml": "apiVersion: v2\nname: hooked\nversion: 0.1.0\n",
    "apps/chart/values.yaml": "image: api:1\n",
    "apps/chart/templates/config.yaml": yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {}}
    ),
    "apps/chart/templates/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 1
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: {{ .Values.image }}
""",
    # Weights out of file order: -5 must run before 5.
    "apps/chart/templates/a-second.yaml": helm_job("schema-second", "pre-install,pre-upgrade", "5"),
    "apps/chart/templates/b-first.yaml": helm_job(
        "schema-first", "pre-install,pre-upgrade", "-5", "before-hook-creation"
    ),
    "apps/chart/templates/post.yaml": helm_job(
        "announce", "post-install,post-upgrade", policy="hook-succeeded"
    ),
    "apps/chart/templates/tests/test.yaml": yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "chart-test", "annotations": {"helm.sh/hook": "test"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "t:1"}]},
        }
    ),
}


def finished(st: dict[str, Any]) -> bool:
    return (st.get("operationState") or {}).get("phase") in ("Succeeded", "Failed", "Error")


async def test_helm_hooks_run_by_weight_before_the_chart_and_post_hooks_after_health(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    if not helm_path().exists():
        pytest.skip("helm not installed: run make tools")
    git_repo.commit(CHART)
    async with recording(apps.kube, dest_namespace, KINDS) as seen:
        name = await apps.create(
            git_repo.git_url, path="apps/chart", dest=dest_namespace, automated={}
        )
        st = await apps.wait(name, finished, "the sync finished", timeout=120)

    assert st["operationState"]["phase"] == "Succeeded", st["operationState"]
    first_done = seen.first(
        "Job", "schema-first", lambda o: condition_true(o, "Complete"), "completed"
    )
    assert first_done < seen.created("Job", "schema-second")
    second_done = seen.first(
        "Job", "schema-second", lambda o: condition_true(o, "Complete"), "completed"
    )
    assert second_done < seen.created("ConfigMap", "settings")
    assert second_done < seen.created("Deployment", "api")
    healthy = seen.first("Deployment", "api", deployment_available(1), "became available")
    assert healthy < seen.created("Job", "announce")
    # hook-succeeded: gone once done; a test hook is never created.
    assert any(e.type == "DELETED" for e in seen.of("Job", "announce"))
    assert not seen.of("Pod", "chart-test")
    kinds = {(r["kind"], r["name"]) for r in st["resources"]}
    assert kinds == {("ConfigMap", "settings"), ("Deployment", "api")}
    hooks = sorted(
        (r["hookType"], r["name"], r["hookPhase"], r["wave"])
        for r in st["operationState"]["syncResult"]["resources"]
        if r.get("hookType")
    )
    assert hooks == [
        ("PostSync", "announce", "Succeeded", 0),
        ("PreSync", "schema-first", "Succeeded", -5),
        ("PreSync", "schema-second", "Succeeded", 5),
    ]
