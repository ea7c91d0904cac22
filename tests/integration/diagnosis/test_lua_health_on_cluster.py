"""Argo CD Lua health checks, unchanged, decide a custom resource's health on a real cluster.

The keys are named as in Argo CD's ``argocd-cm`` and live in Tether's own
ConfigMap ``tether-health-rules``. A runaway script is stopped, reported in
the ``HealthRuleError`` condition naming its key, and the controller keeps
syncing and judging other apps with the other scripts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fixtures.tether import APP_NS, Apps, Projects, condition
from fixtures.waiting import await_for

GADGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.lua.example.com"},
    "spec": {
        "group": "lua.example.com",
        "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
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
SPROCKET_CRD = json.loads(
    json.dumps(GADGET_CRD)
    .replace("gadgets.lua", "sprockets.lua")
    .replace('"Gadget"', '"Sprocket"')
    .replace('"gadgets"', '"sprockets"')
    .replace('"gadget"', '"sprocket"')
)


def gadget(broken: bool) -> str:
    return f"""apiVersion: lua.example.com/v1
kind: Gadget
metadata:
  name: gear
spec:
  broken: {"true" if broken else "false"}
"""


SPROCKET = """apiVersion: lua.example.com/v1
kind: Sprocket
metadata:
  name: cog
spec: {}
"""

GADGET_LUA = """hs = {}
if obj.spec ~= nil and obj.spec.broken == true then
  hs.status = "Degraded"
  hs.message = "gadget " .. obj.metadata.name .. " is broken"
  return hs
end
hs.status = "Healthy"
hs.message = "gadget " .. obj.metadata.name .. " works"
return hs
"""

RUNAWAY_BLOCK = """lua.example.com/Sprocket:
  health.lua: |
    while true do end
"""
GADGET_KEY = "resource.customizations.health.lua.example.com_Gadget"


async def test_lua_script_decides_health_and_a_runaway_one_is_reported_while_others_work(
    git_repo: Any,
    apps: Apps,
    dest_namespace: str,
    kubectl: Callable[..., str],
    make_project: Projects,
) -> None:
    for crd in (GADGET_CRD, SPROCKET_CRD):
        kubectl("apply", "-f", "-", input=json.dumps(crd))
        kubectl("wait", "--for=condition=Established", f"crd/{crd['metadata']['name']}")
    git_repo.commit(
        {"gadgets/gear.yaml": gadget(broken=True), "sprockets/cog.yaml": SPROCKET},
        message="a broken gadget and a sprocket",
    )
    project = await make_project.create()
    gadgets = await apps.create(
        git_repo.git_url,
        path="gadgets",
        dest=dest_namespace,
        automated={"prune": True},
        extra={"project": project},
    )
    sprockets = await apps.create(
        git_repo.git_url,
        path="sprockets",
        dest=dest_namespace,
        automated={"prune": True},
        extra={"project": project},
    )

    async def health(name: str) -> dict[str, Any]:
        return (await apps.status(name)).get("health") or {}

    async def gadgets_healthy_without_script() -> bool:
        return (await health(gadgets)).get("status") == "Healthy"

    await await_for(gadgets_healthy_without_script, what="status-less Gadget Healthy by default")

    def write_configmap(data: dict[str, str]) -> None:
        configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "tether-health-rules", "namespace": APP_NS},
            "data": data,
        }
        kubectl("apply", "-f", "-", input=json.dumps(configmap))

    write_configmap({GADGET_KEY: GADGET_LUA})
    try:

        async def degraded_by_lua() -> bool:
            h = await health(gadgets)
            return h.get("status") == "Degraded" and "gadget gear is broken" in h.get("message", "")

        await await_for(degraded_by_lua, timeout=60, what="the Lua script deciding health")

        write_configmap({GADGET_KEY: GADGET_LUA, "resource.customizations": RUNAWAY_BLOCK})

        async def runaway_reported() -> bool:
            st = await apps.status(sprockets)
            found = condition(st, "HealthRuleError") or {}
            return (st.get("health") or {}).get("status") == "Unknown" and (
                "resource.customizations (lua.example.com/Sprocket)" in found.get("message", "")
            )

        await await_for(runaway_reported, timeout=60, what="the runaway script reported")
        message = (condition(await apps.status(sprockets), "HealthRuleError") or {})["message"]
        assert "instruction limit exceeded" in message or "time limit" in message

        git_repo.commit({"gadgets/gear.yaml": gadget(broken=False)}, message="fix the gadget")

        async def fixed_and_judged_by_lua() -> bool:
            h = await health(gadgets)
            return h.get("status") == "Healthy"

        await await_for(fixed_and_judged_by_lua, timeout=90, what="the controller still syncing")
        live = json.loads(
            kubectl("-n", dest_namespace, "get", "gadgets.lua.example.com", "gear", "-o", "json")
        )
        assert live["spec"]["broken"] is False
    finally:
        kubectl("-n", APP_NS, "delete", "configmap", "tether-health-rules", check=False)
