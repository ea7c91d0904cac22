"""Health of Kubernetes objects and of an application as a whole.

``assess`` answers "is this object doing what it was asked to?" for one live
object, from its status, its children and its Events. The user's rules (CEL,
see ``rules``, or Argo CD Lua, see ``lua``) are consulted first so a team can
teach Tether about its own CRDs without code; then a kind-specific check for
built-in kinds; then the rules Tether ships for common operators
(``builtin``); then the generic conventions (``generic``).
``aggregate`` turns many answers into the application's health: the worst
one, told in the words of the object that decided it.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from tether.engine.health.apiservice import assess_apiservice
from tether.engine.health.builtin import evaluate_builtin
from tether.engine.health.crd import assess_crd
from tether.engine.health.cronjob import assess_cronjob
from tether.engine.health.daemonset import assess_daemonset
from tether.engine.health.deployment import assess_deployment
from tether.engine.health.generic import assess_generic
from tether.engine.health.hpa import assess_hpa
from tether.engine.health.ingress import assess_ingress
from tether.engine.health.job import assess_job
from tether.engine.health.namespace import assess_namespace
from tether.engine.health.pod import assess_pod, with_pod_note
from tether.engine.health.pvc import assess_pvc
from tether.engine.health.replicaset import assess_replicaset
from tether.engine.health.rules import HealthRuleError, HealthRules, load_rules
from tether.engine.health.service import assess_service
from tether.engine.health.statefulset import assess_statefulset
from tether.engine.health.status import (
    SEVERITY_ORDER,
    HealthResult,
    HealthStatus,
    is_worse,
    progressing,
)
from tether.engine.objects import Obj, ObjectKey, group_of, meta

__all__ = [
    "SEVERITY_ORDER",
    "HealthResult",
    "HealthRuleError",
    "HealthRules",
    "HealthStatus",
    "aggregate",
    "assess",
    "load_rules",
    "missing",
    "worst",
]

Assessor = Callable[[Obj, Sequence[Obj], Sequence[Obj]], HealthResult]

WORKLOADS: dict[tuple[str, str], Callable[[Obj], HealthResult]] = {
    ("apps", "Deployment"): assess_deployment,
    ("apps", "ReplicaSet"): assess_replicaset,
    ("apps", "StatefulSet"): assess_statefulset,
    ("apps", "DaemonSet"): assess_daemonset,
}

OTHERS: dict[tuple[str, str], Assessor] = {
    ("", "Pod"): lambda o, _c, ev: assess_pod(o, ev),
    ("", "Service"): lambda o, _c, _e: assess_service(o),
    ("", "PersistentVolumeClaim"): lambda o, _c, ev: assess_pvc(o, ev),
    ("", "Namespace"): lambda o, _c, _e: assess_namespace(o),
    ("networking.k8s.io", "Ingress"): lambda o, _c, _e: assess_ingress(o),
    ("extensions", "Ingress"): lambda o, _c, _e: assess_ingress(o),
    ("batch", "Job"): lambda o, _c, _e: assess_job(o),
    ("batch", "CronJob"): lambda o, c, _e: assess_cronjob(o, c),
    ("autoscaling", "HorizontalPodAutoscaler"): lambda o, _c, _e: assess_hpa(o),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): lambda o, _c, _e: assess_crd(o),
    ("apiregistration.k8s.io", "APIService"): lambda o, _c, _e: assess_apiservice(o),
}


def missing(message: str = "not found in the cluster") -> HealthResult:
    return HealthResult(HealthStatus.MISSING, message, "Missing")


def assess(
    obj: Obj | None,
    children: Sequence[Obj] = (),
    events: Sequence[Obj] = (),
    rules: HealthRules | None = None,
    now: datetime | None = None,
) -> HealthResult:
    """Health of one live object (``None`` means it does not exist: Missing).

    ``children`` are the objects it owns, directly or not (a Deployment's
    ReplicaSets and Pods); ``events`` may be all Events in scope, they are
    matched to the object here. ``now`` (default: the current time) dates
    conditions stuck at Unknown.
    """
    if obj is None:
        return missing()
    if rules is not None:
        custom = rules.evaluate(obj, children)
        if custom is not None:
            return custom
    kind = (group_of(str(obj.get("apiVersion", ""))), str(obj.get("kind", "")))
    deleting = meta(obj).get("deletionTimestamp")
    if deleting and kind != ("", "Namespace"):
        finalizers = meta(obj).get("finalizers") or []
        waiting = f" (waiting for finalizers: {', '.join(finalizers)})" if finalizers else ""
        return progressing(f"being deleted{waiting}", "Terminating")
    if kind in WORKLOADS:
        return with_pod_note(WORKLOADS[kind](obj), children, events)
    if kind in OTHERS:
        return OTHERS[kind](obj, children, events)
    shipped = evaluate_builtin(obj, children)
    if shipped is not None:
        return shipped
    return assess_generic(obj, now)


def worst(statuses: Iterable[HealthStatus]) -> HealthStatus:
    found = HealthStatus.HEALTHY
    for status in statuses:
        if is_worse(status, found):
            found = status
    return found


def aggregate(
    results: Mapping[ObjectKey, HealthResult] | Iterable[tuple[ObjectKey, HealthResult]],
) -> tuple[HealthStatus, str]:
    """The application's health: the worst result, told by the object that decided it.

    On a tie the first object in the input decides, so callers control the
    wording by ordering their input.
    """
    pairs = results.items() if isinstance(results, Mapping) else results
    deciding: tuple[ObjectKey, HealthResult] | None = None
    for key, result in pairs:
        if deciding is None or is_worse(result.status, deciding[1].status):
            deciding = (key, result)
    if deciding is None:
        return HealthStatus.HEALTHY, "no resources"
    key, result = deciding
    if result.status is HealthStatus.HEALTHY:
        return HealthStatus.HEALTHY, "all resources are healthy"
    words = result.message or result.reason or str(result.status)
    return result.status, f"{key.kind} {key.name}: {words}"
