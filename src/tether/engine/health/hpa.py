"""HorizontalPodAutoscaler health from AbleToScale / ScalingActive.

Follows Argo CD's ``health_hpa.go``: failing to read the scale target or its
metrics is Degraded, an HPA that has not acted yet is Progressing.
"""

from tether.engine.health.status import HealthResult, degraded, healthy, progressing, suspended
from tether.engine.objects import Obj, conditions


def assess_hpa(obj: Obj) -> HealthResult:
    conds = conditions(obj)
    able = conds.get("AbleToScale") or {}
    active = conds.get("ScalingActive") or {}
    if able.get("status") == "False":
        return degraded(str(able.get("message", "")), str(able.get("reason") or "AbleToScale"))
    if active.get("status") == "False":
        if active.get("reason") == "ScalingDisabled":
            return suspended(str(active.get("message", "")), "ScalingDisabled")
        return degraded(
            str(active.get("message", "")), str(active.get("reason") or "ScalingActive")
        )
    if able.get("status") == "True" and active.get("status") == "True":
        limited = conds.get("ScalingLimited") or {}
        if limited.get("status") == "True":
            return healthy(str(limited.get("message", "")), str(limited.get("reason", "")))
        return healthy(str(active.get("message", "")), str(active.get("reason") or "ScalingActive"))
    return progressing("Waiting to autoscale", "WaitingToAutoscale")
