"""CustomResourceDefinition health: the API server serves the type once it is Established."""

from tether.engine.health.status import HealthResult, degraded, healthy, progressing
from tether.engine.objects import Obj, conditions


def assess_crd(obj: Obj) -> HealthResult:
    conds = conditions(obj)
    names = conds.get("NamesAccepted") or {}
    if names.get("status") == "False":
        return degraded(str(names.get("message", "")), str(names.get("reason") or "NamesRejected"))
    if (conds.get("NonStructuralSchema") or {}).get("status") == "True":
        return degraded(str(conds["NonStructuralSchema"].get("message", "")), "NonStructuralSchema")
    if (conds.get("Established") or {}).get("status") == "True":
        return healthy("the API server serves this type", "Established")
    return progressing("Waiting for the API server to establish the type", "NotEstablished")
