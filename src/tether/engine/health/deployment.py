"""Deployment health: is the rollout finished, stuck, or paused.

Mirrors Argo CD's ``health_deployment.go`` and ``kubectl rollout status``,
so the wording matches what people already see from those tools.
"""

from tether.engine.health.status import (
    HealthResult,
    degraded,
    generation_observed,
    healthy,
    num,
    progressing,
    replicas_wanted,
    suspended,
)
from tether.engine.objects import Obj, conditions, meta, spec_of, status_of


def assess_deployment(obj: Obj) -> HealthResult:
    name = meta(obj).get("name", "")
    if spec_of(obj).get("paused"):
        return suspended("Deployment is paused", "Paused")
    if not generation_observed(obj):
        return progressing(
            "Waiting for rollout to finish: observed deployment generation less than desired "
            "generation",
            "ObservedGenerationLag",
        )
    cond = conditions(obj).get("Progressing") or {}
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return degraded(
            f'Deployment "{name}" exceeded its progress deadline: '
            f"{cond.get('message', '')}".strip(),
            "ProgressDeadlineExceeded",
        )
    status = status_of(obj)
    wanted = replicas_wanted(obj)
    updated = num(status.get("updatedReplicas"))
    total = num(status.get("replicas"))
    available = num(status.get("availableReplicas"))
    if updated < wanted:
        return progressing(
            f"Waiting for rollout to finish: {updated} out of {wanted} new replicas have been "
            "updated...",
            "RolloutInProgress",
        )
    if total > updated:
        return progressing(
            f"Waiting for rollout to finish: {total - updated} old replicas are pending "
            "termination...",
            "RolloutInProgress",
        )
    if available < updated:
        return progressing(
            f"Waiting for rollout to finish: {available} of {updated} updated replicas are "
            "available...",
            "RolloutInProgress",
        )
    return healthy(f"{available} of {wanted} replicas available", "Available")
