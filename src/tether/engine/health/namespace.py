"""Namespace health: Active, or Terminating with what it still waits for."""

from tether.engine.health.status import HealthResult, healthy, progressing, unknown
from tether.engine.objects import Obj, conditions, status_of


def assess_namespace(obj: Obj) -> HealthResult:
    phase = status_of(obj).get("phase")
    if phase == "Active":
        return healthy("namespace is active", "Active")
    if phase == "Terminating":
        waiting = [
            str(c.get("message", ""))
            for c in conditions(obj).values()
            if c.get("status") == "True" and c.get("message")
        ]
        return progressing("; ".join(waiting) or "namespace is terminating", "Terminating")
    return unknown(f"namespace phase is {phase or 'not reported'}")
