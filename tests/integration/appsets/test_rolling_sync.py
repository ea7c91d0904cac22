"""Rolling sync by label steps: the apps of a later step keep their automated sync held
until every app of the earlier steps is Synced and Healthy."""

from __future__ import annotations

from typing import Any

from appsets_helpers import Sets, configmap, synced_and_healthy

from tether.engine import application as appmodel

PENDING_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {%s}
      containers: [{name: web, image: registry.example/web:1}]
"""


def held(app: dict[str, Any]) -> str:
    return str((app["metadata"].get("annotations") or {}).get(appmodel.PAUSE_ANNOTATION, ""))


async def test_prod_waits_for_dev_to_be_synced_and_healthy(git_repo: Any, sets: Sets) -> None:
    # dev's Deployment cannot schedule (no such node): Synced, but not Healthy
    git_repo.commit(
        {
            "envs/dev/deploy.yaml": PENDING_DEPLOYMENT % "no-such-node: 'true'",
            "envs/prod/cm.yaml": configmap("prod"),
        }
    )
    name = sets.name("roll")
    await sets.create(
        name,
        {
            "goTemplate": True,
            "generators": [{"list": {"elements": [{"env": "dev"}, {"env": "prod"}]}}],
            "template": {
                "metadata": {"name": name + "-{{.env}}", "labels": {"env": "{{.env}}"}},
                "spec": {
                    "source": {
                        "repoURL": git_repo.git_url,
                        "targetRevision": "main",
                        "path": "envs/{{.env}}",
                    },
                    "destination": {"namespace": name + "-{{.env}}"},
                    "syncPolicy": {
                        "automated": {"prune": True},
                        "syncOptions": ["CreateNamespace=true"],
                    },
                },
            },
            "strategy": {
                "type": "RollingSync",
                "rollingSync": {
                    "steps": [
                        {"matchExpressions": [{"key": "env", "operator": "In", "values": [e]}]}
                        for e in ("dev", "prod")
                    ]
                },
            },
        },
    )
    dev, prod = f"{name}-dev", f"{name}-prod"
    found = await sets.wait_apps(name, {dev, prod})
    # created held: prod can never have synced before the hold was lifted
    assert held(found[prod]).startswith("rolling sync: step 2 waits for step 1")
    assert held(found[dev]) == ""

    def synced_not_healthy(app: dict[str, Any]) -> bool:
        st = app.get("status") or {}
        return (st.get("sync") or {}).get("status") == "Synced" and (st.get("health") or {}).get(
            "status"
        ) not in (None, "Healthy")

    await sets.wait_app(dev, synced_not_healthy, "dev Synced but not Healthy")
    still = await sets.kube.get(appmodel.API_VERSION, appmodel.KIND, prod, "tether")
    assert held(still)
    assert not (still.get("status") or {}).get("history")
    status = (await sets.get(name)).get("status") or {}
    steps = {s["application"]: s for s in status.get("applicationStatus") or []}
    assert steps[prod]["status"] == "Waiting" and steps[prod]["step"] == "2"

    # dev becomes schedulable: dev turns Healthy, then prod is released and syncs
    git_repo.commit({"envs/dev/deploy.yaml": PENDING_DEPLOYMENT % ""}, message="fix dev")
    dev_app = await sets.wait_app(dev, synced_and_healthy, "dev Synced and Healthy", timeout=120)
    prod_app = await sets.wait_app(prod, synced_and_healthy, "prod Synced and Healthy", timeout=120)
    assert held(prod_app) == ""
    dev_healthy_at = max(h["deployedAt"] for h in dev_app["status"]["history"])
    assert prod_app["status"]["history"][0]["deployedAt"] >= dev_healthy_at
