"""Health for kinds no rule knows, from the conventions controllers share.

Most controllers write some mix of kstatus (``observedGeneration``, ``Ready``,
``Reconciling``, ``Stalled``), typed conditions with a known polarity
(``Synced``, ``Available``, ``Degraded``...) and a ``status.phase`` or
``status.state`` word. Each of those is read into a *signal*; the object's
health is the worst signal, told with the condition type, status and reason
that gave it. A false Healthy is the worst answer a GitOps tool can give, so:

- an object asked to pause (``spec.suspend``/``spec.paused``) is Suspended;
- a spec the controller has not seen yet is Progressing, whatever the
  conditions say about the previous one;
- a positive condition stuck at Unknown for ``STALE_UNKNOWN`` is Degraded
  (the controller stopped concluding);
- on a custom resource, conditions or a phase Tether does not understand
  give Unknown, naming them, rather than Healthy. Kubernetes' own kinds
  without a dedicated check (PodDisruptionBudget's DisruptionAllowed=False,
  FlowSchema's Dangling) keep their documented meaning of "exists, so done".
  An object with no status at all (ConfigMap, RBAC, CRDs that never report)
  is Healthy as soon as it exists.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from tether.engine.health import vocabulary as words
from tether.engine.health.status import (
    HealthResult,
    degraded,
    healthy,
    is_worse,
    progressing,
    suspended,
    unknown,
)
from tether.engine.objects import Obj, group_of, meta, parse_time, spec_of, status_of

STALE_UNKNOWN = timedelta(minutes=15)


def assess_generic(obj: Obj, now: datetime | None = None) -> HealthResult:
    spec = spec_of(obj)
    if spec.get("suspend") is True:
        return suspended("spec.suspend is true: the controller is told not to reconcile it")
    if spec.get("paused") is True:
        return suspended("spec.paused is true: the controller is told to hold it", "Paused")
    status = status_of(obj)
    if not status:
        return healthy()
    lag = generation_lag(obj)
    if lag is not None:
        return lag
    signals, puzzles = condition_signals(status, now or datetime.now(UTC))
    phase_signal, phase_puzzle = phase_of(status)
    if phase_signal is not None:
        signals.append(phase_signal)
    if phase_puzzle:
        puzzles.append(phase_puzzle)
    decided = worst_of(signals)
    if decided is not None:
        return decided
    if puzzles and is_custom(obj):
        return unknown(
            "status not understood: "
            + "; ".join(puzzles)
            + " (a health rule for this kind can say what it means)",
            "StatusNotUnderstood",
        )
    return healthy()


def is_custom(obj: Obj) -> bool:
    """A kind from outside Kubernetes itself: a group with a dot, not under k8s.io."""
    group = group_of(str(obj.get("apiVersion", "")))
    return "." in group and not group.endswith(".k8s.io")


def as_generation(value: object) -> int | None:
    """observedGeneration as a number; some controllers (Argo Rollouts) write a string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdecimal():
        return int(value)
    return None


def generation_lag(obj: Obj) -> HealthResult | None:
    generation = as_generation(meta(obj).get("generation"))
    observed = as_generation(status_of(obj).get("observedGeneration"))
    if generation is None or observed is None or observed >= generation:
        return None
    return progressing(
        f"the controller has not observed generation {generation} yet (at {observed}): "
        "its conditions describe an older spec",
        "ObservedGenerationLag",
    )


def worst_of(signals: Iterable[HealthResult]) -> HealthResult | None:
    decided: HealthResult | None = None
    for signal in signals:
        if decided is None or is_worse(signal.status, decided.status):
            decided = signal
    return decided


def told(cond: dict[str, Any]) -> tuple[str, str, str]:
    ctype = str(cond.get("type"))
    reason = str(cond.get("reason") or ctype)
    said = f"{ctype}={cond.get('status')} ({reason})"
    message = str(cond.get("message") or "").strip()
    return said + (f": {message}" if message else ""), reason, ctype


def looks_negative(ctype: str) -> bool:
    lowered = words.normal(ctype)
    return ctype in words.NEGATIVE_CONDITIONS or any(
        w in lowered for w in ("fail", "error", "degrad", "stall", "pressure", "unavailable")
    )


def condition_signals(
    status: dict[str, Any], now: datetime
) -> tuple[list[HealthResult], list[str]]:
    """One signal per condition Tether understands; the ones it does not, in words."""
    signals: list[HealthResult] = []
    puzzles: list[str] = []
    raw = status.get("conditions")
    for cond in raw if isinstance(raw, list) else []:
        if not isinstance(cond, dict) or "type" not in cond:
            continue
        said, reason, ctype = told(cond)
        value = cond.get("status")
        if ctype in words.WORKING_CONDITIONS:
            signals.extend(working(cond, said, reason))
        elif ctype in words.POSITIVE_CONDITIONS:
            signals.append(positive(cond, said, reason, now))
        elif looks_negative(ctype):
            if value == "True":
                signals.append(degraded(said, reason))
        elif value != "True":
            puzzles.append(f"condition {said}")
    return signals, puzzles


def working(cond: dict[str, Any], said: str, reason: str) -> list[HealthResult]:
    value = cond.get("status")
    if value == "True":
        if cond.get("type") == "Progressing" and not words.sounds_in_progress(reason):
            return []  # Deployment-style Progressing=True NewReplicaSetAvailable: done
        return [progressing(said, reason)]
    if value == "False" and words.sounds_failed(reason):
        return [degraded(said, reason)]
    return []


def positive(cond: dict[str, Any], said: str, reason: str, now: datetime) -> HealthResult:
    value = cond.get("status")
    if value == "True":
        return healthy(said, reason)
    if value == "False":
        if words.sounds_in_progress(reason) and not words.sounds_failed(reason):
            return progressing(said, reason)
        return degraded(said, reason)
    since = parse_time(cond.get("lastTransitionTime"))
    if since is not None and now - since > STALE_UNKNOWN:
        minutes = int((now - since).total_seconds() // 60)
        return degraded(
            f"StaleUnknown: {said}: no conclusion for {minutes} minutes; "
            "the controller may be stuck or gone",
            "StaleUnknown",
        )
    return progressing(said, reason)


def phase_of(status: dict[str, Any]) -> tuple[HealthResult | None, str]:
    """The signal in ``status.phase`` or ``status.state``, or a puzzle naming the word."""
    for field in ("phase", "state"):
        value = status.get(field)
        if not isinstance(value, str) or not value:
            continue
        word = words.normal(value)
        detail = status.get("message") or status.get("reason") or ""
        said = f"status.{field} is {value}" + (f": {detail}" if detail else "")
        verdict = words.phase_word_status(word)
        if verdict == "Degraded":
            return degraded(said, value), ""
        if verdict == "Suspended":
            return suspended(said, value), ""
        if verdict == "Progressing":
            return progressing(said, value), ""
        if verdict == "Healthy":
            return healthy(said, value), ""
        return None, f"status.{field} is {value!r}"
    return None, ""
