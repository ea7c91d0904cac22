"""Health for kinds without a dedicated check, by the kstatus conventions.

kstatus (sigs.k8s.io/cli-utils) is what Flux, Config Sync and most modern
controllers write to: ``observedGeneration`` to say the spec was seen, and
``Ready``/``Reconciling``/``Stalled`` conditions. Objects with no status at
all (ConfigMap, Secret, ServiceAccount, RBAC) are Current as soon as they
exist, so they are Healthy here.
"""

from tether.engine.health.status import HealthResult, degraded, healthy, num, progressing
from tether.engine.objects import Obj, conditions, meta, status_of

PROGRESS_WORDS = (
    "progress",
    "pending",
    "wait",
    "reconcil",
    "creat",
    "initializ",
    "provision",
    "updat",
    "install",
    "upgrad",
    "deploy",
    "start",
)


def sounds_in_progress(reason: str) -> bool:
    lowered = reason.lower()
    return any(word in lowered for word in PROGRESS_WORDS)


def assess_generic(obj: Obj) -> HealthResult:
    status = status_of(obj)
    if not status:
        return healthy()
    generation = meta(obj).get("generation")
    observed = status.get("observedGeneration")
    if isinstance(observed, int) and isinstance(generation, int) and observed < generation:
        return progressing(
            f"the controller has not observed generation {generation} yet (at {num(observed)})",
            "ObservedGenerationLag",
        )
    conds = conditions(obj)
    stalled = conds.get("Stalled") or {}
    if stalled.get("status") == "True":
        return degraded(str(stalled.get("message", "")), str(stalled.get("reason") or "Stalled"))
    reconciling = conds.get("Reconciling") or {}
    if reconciling.get("status") == "True":
        return progressing(
            str(reconciling.get("message", "")), str(reconciling.get("reason") or "Reconciling")
        )
    for kind in ("Ready", "Available"):
        cond = conds.get(kind)
        if not cond:
            continue
        message = str(cond.get("message", ""))
        reason = str(cond.get("reason") or kind)
        if cond.get("status") == "True":
            return healthy(message, reason)
        if cond.get("status") == "False" and not sounds_in_progress(reason):
            return degraded(message, reason)
        return progressing(message, reason)
    return healthy()
