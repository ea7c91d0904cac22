"""ReplicaSet health: ReplicaFailure (quota, admission) or missing replicas.

Follows Argo CD's ``health_replicaset.go``; the ReplicaFailure condition is
where the ReplicaSet controller reports that it cannot create Pods at all.
"""

from tether.engine.health.status import (
    HealthResult,
    degraded,
    generation_observed,
    healthy,
    num,
    progressing,
)
from tether.engine.objects import Obj, conditions, spec_of, status_of


def assess_replicaset(obj: Obj) -> HealthResult:
    if not generation_observed(obj):
        return progressing(
            "Waiting for rollout to finish: observed replica set generation less than desired "
            "generation",
            "ObservedGenerationLag",
        )
    failure = conditions(obj).get("ReplicaFailure") or {}
    if failure.get("status") == "True":
        return degraded(
            str(failure.get("message", "")), str(failure.get("reason") or "FailedCreate")
        )
    wanted = num(spec_of(obj).get("replicas"), 1)
    available = num(status_of(obj).get("availableReplicas"))
    if available < wanted:
        return progressing(
            f"Waiting for rollout to finish: {available} out of {wanted} new replicas are "
            "available...",
            "RolloutInProgress",
        )
    return healthy(f"{available} of {wanted} replicas available", "Available")
