"""APIService health: an aggregated API is usable only while Available."""

from tether.engine.health.status import HealthResult, degraded, healthy, progressing
from tether.engine.objects import Obj, conditions


def assess_apiservice(obj: Obj) -> HealthResult:
    available = conditions(obj).get("Available") or {}
    if available.get("status") == "True":
        return healthy(str(available.get("message") or "available"), "Available")
    if available.get("status") == "False":
        reason = str(available.get("reason") or "Unavailable")
        return degraded(str(available.get("message", "")), reason)
    return progressing("Waiting for the APIService to become available", "Pending")
