"""Custom health rules are data: a ConfigMap teaches Tether about a custom resource."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fixtures.tether import APP_NS, Apps, Projects
from fixtures.waiting import await_for

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.rules.example.com"},
    "spec": {
        "group": "rules.example.com",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}

WIDGET = """apiVersion: rules.example.com/v1
kind: Widget
metadata:
  name: gear
spec:
  broken: true
"""

RULES = """- group: rules.example.com
  kind: Widget
  rules:
    - when: "object.spec.broken == true"
      status: Degraded
      reason: Broken
      message: "'widget ' + object.metadata.name + ' is broken'"
    - when: "true"
      status: Healthy
"""


async def test_configmap_rule_decides_a_custom_resource_health_and_a_bad_rule_is_reported(
    git_repo: Any,
    apps: Apps,
    dest_namespace: str,
    kubectl: Callable[..., str],
    make_project: Projects,
) -> None:
    kubectl("apply", "-f", "-", input=json.dumps(WIDGET_CRD))
    kubectl("wait", "--for=condition=Established", "crd/widgets.rules.example.com")
    git_repo.commit({"widgets/gear.yaml": WIDGET}, message="a broken widget")
    # The default project's deployer holds the built-in admin role, which covers
    # no custom kinds; this project's syncs are made by the controller itself.
    project = await make_project.create()
    name = await apps.create(
        git_repo.git_url,
        path="widgets",
        dest=dest_namespace,
        automated={"prune": True},
        extra={"project": project},
    )

    async def health() -> dict[str, Any]:
        return (await apps.status(name)).get("health") or {}

    async def healthy() -> bool:
        return (await health()).get("status") == "Healthy"

    await await_for(healthy, what="status-less custom resource Healthy without a rule")
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "tether-health-rules", "namespace": APP_NS},
        "data": {
            "widgets.yaml": RULES,
            "typo.yaml": "- group: x\n  kind: Y\n  rules: [{when: '(('}]",
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(configmap))
    try:

        async def degraded_by_rule() -> bool:
            h = await health()
            return h.get("status") == "Degraded" and "widget gear is broken" in h.get("message", "")

        await await_for(degraded_by_rule, timeout=60, what="the ConfigMap rule deciding health")
        conditions = (await apps.status(name)).get("conditions") or []
        rule_errors = [c for c in conditions if c["type"] == "HealthRuleError"]
        assert rule_errors and "typo.yaml" in rule_errors[0]["message"]
    finally:
        kubectl("-n", APP_NS, "delete", "configmap", "tether-health-rules", check=False)
