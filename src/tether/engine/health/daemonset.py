"""DaemonSet health: new Pods scheduled and available on every eligible node.

Follows Argo CD's ``health_daemonset.go``.
"""

from tether.engine.health.status import (
    HealthResult,
    generation_observed,
    healthy,
    num,
    progressing,
)
from tether.engine.objects import Obj, meta, spec_of, status_of


def assess_daemonset(obj: Obj) -> HealthResult:
    name = meta(obj).get("name", "")
    if not generation_observed(obj):
        return progressing(
            "Waiting for rollout to finish: observed daemon set generation less than desired "
            "generation",
            "ObservedGenerationLag",
        )
    status = status_of(obj)
    desired = num(status.get("desiredNumberScheduled"))
    updated = num(status.get("updatedNumberScheduled"))
    available = num(status.get("numberAvailable"))
    if (spec_of(obj).get("updateStrategy") or {}).get("type") == "OnDelete":
        return healthy(f"daemon set {updated} out of {desired} new pods have been updated")
    if updated < desired:
        return progressing(
            f'Waiting for daemon set "{name}" rollout to finish: {updated} out of {desired} new '
            "pods have been updated...",
            "RolloutInProgress",
        )
    if available < desired:
        return progressing(
            f'Waiting for daemon set "{name}" rollout to finish: {available} of {desired} '
            "updated pods are available...",
            "RolloutInProgress",
        )
    return healthy(f"{available} of {desired} pods available", "Available")
