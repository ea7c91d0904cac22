"""PersistentVolumeClaim health: Bound is done, Pending waits, Lost has lost its volume."""

from collections.abc import Sequence

from tether.engine.health.status import HealthResult, degraded, healthy, progressing, unknown
from tether.engine.objects import Obj, event_message, events_for, status_of


def assess_pvc(obj: Obj, events: Sequence[Obj] = ()) -> HealthResult:
    phase = status_of(obj).get("phase")
    if phase == "Bound":
        return healthy("claim is bound", "Bound")
    if phase == "Lost":
        return degraded("the claim has lost its PersistentVolume", "Lost")
    if phase == "Pending":
        own = events_for(obj, events)
        if own and own[-1].get("reason") == "ProvisioningFailed":
            return degraded(event_message(own[-1]), "ProvisioningFailed")
        if own and own[-1].get("reason") == "WaitForFirstConsumer":
            return progressing(event_message(own[-1]), "WaitForFirstConsumer")
        return progressing("Waiting for the claim to be bound", "Pending")
    return unknown(f"claim phase is {phase or 'not reported'}")
