"""StatefulSet health: ready Pods, partitioned and rolling updates.

Follows Argo CD's ``health_statefulset.go`` (itself ``kubectl rollout status``).
"""

from tether.engine.health.status import (
    HealthResult,
    generation_observed,
    healthy,
    num,
    progressing,
    replicas_wanted,
)
from tether.engine.objects import Obj, spec_of, status_of


def assess_statefulset(obj: Obj) -> HealthResult:
    status = status_of(obj)
    if not num(status.get("observedGeneration")) or not generation_observed(obj):
        return progressing(
            "Waiting for statefulset spec update to be observed...", "ObservedGenerationLag"
        )
    wanted = replicas_wanted(obj)
    ready = num(status.get("readyReplicas"))
    if ready < wanted:
        return progressing(f"Waiting for {wanted - ready} pods to be ready...", "RolloutInProgress")
    strategy = spec_of(obj).get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return healthy(f"statefulset has {ready} ready pods", "Ready")
    partition = (strategy.get("rollingUpdate") or {}).get("partition")
    updated = num(status.get("updatedReplicas"))
    if isinstance(partition, int) and partition > 0:
        if updated < wanted - partition:
            return progressing(
                f"Waiting for partitioned roll out to finish: {updated} out of "
                f"{wanted - partition} new pods have been updated...",
                "RolloutInProgress",
            )
        return healthy(f"partitioned roll out complete: {updated} new pods have been updated...")
    update_rev = status.get("updateRevision")
    if update_rev and update_rev != status.get("currentRevision"):
        return progressing(
            f"waiting for statefulset rolling update to complete {updated} pods at revision "
            f"{update_rev}...",
            "RolloutInProgress",
        )
    return healthy(
        f"statefulset rolling update complete {ready} pods at revision "
        f"{status.get('currentRevision', '')}...",
        "Ready",
    )
