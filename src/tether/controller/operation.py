"""A sync in progress, kept in ``status.operationState`` and advanced pass by pass.

A sync with waves or hooks takes minutes (a migration Job, a Deployment that
must be healthy before the next wave), and a worker must not sit through
them. So the operation is data, as in Argo CD: ``phase: Running``, its steps
(``engine.phases``), the current one, when it started, and every resource
and hook result so far. Each reconcile applies the current step if it has
not been applied, checks whether it is done, moves on, and otherwise asks to
be called again a few seconds later. A restart, or another replica taking the
lead, reads the same state and goes on from there; hooks carry the
operation's id, so none is created twice.

A step that is not done within the health timeout fails the sync, naming the
step and the first object that is not healthy and why. Default 5 minutes;
the Application's annotation ``tether.dev/sync-health-timeout`` (``90s``,
``10m``, ``1h``) sets another.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tether.adapters.kube import ApiError
from tether.controller import events, exactly_once
from tether.controller.live_cache import LiveCache
from tether.controller.passes import Pass
from tether.controller.sync import SyncOutcome
from tether.engine import application as appmodel
from tether.engine import objects, phases, plan, sync_options, waves
from tether.engine.health import HealthRules, HealthStatus
from tether.engine.objects import Obj, ObjectKey, key_of

RUNNING = "Running"
TIMEOUT_ANNOTATION = "tether.dev/sync-health-timeout"
PRUNE_FIRST_ANNOTATION = "tether.dev/prune-first"
DEFAULT_TIMEOUT = 300.0
RECHECK_SECONDS = 2.0
MAX_RESULTS = 500  # per-object results a finished sync keeps in the Application's status
DONE_HEALTH = (HealthStatus.HEALTHY, HealthStatus.SUSPENDED)
# Stands for "the operation" where a failure has no object of its own (a hook, a timeout).
OPERATION_KEY = ObjectKey("", "Operation", "", "")
# Stores the running operation as it stands, now; False when the API server refused it.
Save = Callable[[dict[str, Any]], Awaitable[bool]]


def new_id() -> str:
    return secrets.token_hex(5)


def running(status: dict[str, Any]) -> dict[str, Any] | None:
    """The operation in progress, if any."""
    state = status.get("operationState") or {}
    if state.get("phase") == RUNNING and state.get("steps") is not None:
        return dict(state)
    return None


def running_revision(status: dict[str, Any]) -> str:
    """The revision a running operation is pinned to (it finishes what it started)."""
    state = running(status)
    return str(state.get("revision") or "") if state else ""


def start(p: Pass, *, initiated_by: str, started: str, prune: bool) -> dict[str, Any]:
    """A new operation at the pass's revision; its steps are planned on the first advance."""
    op_sync = ((p.operation or {}).get("sync")) or {}
    state: dict[str, Any] = {
        "phase": RUNNING,
        "message": "sync started",
        "startedAt": started,
        "initiatedBy": initiated_by,
        "revision": p.sha,
        "dryRun": False,
        "id": new_id(),
        "requested": p.operation is not None,
        "prune": prune,
        "resources": list(op_sync.get("resources") or []),
        "steps": [],
        "step": 0,
        "stepApplied": False,
        "syncResult": {"revision": p.sha, "resources": []},
    }
    state.update(exactly_once.request_field(p))
    return state


def _kept_results(state: dict[str, Any]) -> dict[str, Any]:
    """The finished sync's results without step bookkeeping, and at most MAX_RESULTS
    of them: every hook, failure and prune, then applied objects (the Application
    must stay far below the API server's object size limit for a large app)."""
    entries = [{k: v for k, v in r.items() if k != "resourceVersion"} for r in results(state)]
    notable = [r for r in entries if r.get("hookType") or r.get("status") != "Synced"]
    applied = [r for r in entries if not (r.get("hookType") or r.get("status") != "Synced")]
    room = max(0, MAX_RESULTS - len(notable))
    out: dict[str, Any] = {
        "revision": (state.get("syncResult") or {}).get("revision", ""),
        "resources": notable + applied[:room],
    }
    if len(applied) > room:
        out["omitted"] = len(applied) - room
    return out


def finished(state: dict[str, Any], message: str, *, ok: bool) -> dict[str, Any]:
    """The record a finished operation leaves (the bookkeeping of its steps goes; the
    request it answers stays, see ``exactly_once``)."""
    done: dict[str, Any] = {
        "phase": "Succeeded" if ok else "Failed",
        "message": message,
        "startedAt": state.get("startedAt", ""),
        "finishedAt": events.now_iso(),
        "initiatedBy": state.get("initiatedBy", ""),
        "revision": state.get("revision", ""),
        "dryRun": False,
        "syncResult": _kept_results(state),
    }
    if state.get(exactly_once.REQUEST_KEY) is not None:
        done[exactly_once.REQUEST_KEY] = state[exactly_once.REQUEST_KEY]
    return done


def put(status: dict[str, Any], state: dict[str, Any]) -> None:
    """Set ``status.operationState``; keys the old one had and the new one lacks are
    written as null, since the status is written as a merge patch."""
    old = status.get("operationState") or {}
    status["operationState"] = {k: None for k in old if k not in state} | state


def summary(state: dict[str, Any]) -> SyncOutcome:
    """The operation's results, as one sync outcome (counts, kept prunes, errors)."""
    outcome = SyncOutcome()
    for r in results(state):
        if r.get("hookType"):
            continue
        key = ObjectKey(r.get("group", ""), r["kind"], r.get("namespace", ""), r["name"])
        if r.get("status") == "Synced":
            outcome.applied.append(key)
        elif r.get("status") == "Pruned":
            outcome.pruned.append(key)
        elif r.get("status") == "PruneSkipped":
            outcome.kept[key] = str(r.get("message") or "")
        elif r.get("status") == "SyncFailed":
            outcome.errors[key] = ApiError(0, "SyncFailed", str(r.get("message") or ""))
    return outcome


def prune_first(app: Obj) -> bool:
    return objects.annotations(app).get(PRUNE_FIRST_ANNOTATION, "").lower() == "true"


def _live_wave(obj: Obj | None) -> int:
    try:
        return waves.wave_of(obj) if obj is not None else 0
    except waves.WaveError:
        return 0


def work(
    p: Pass, state: dict[str, Any], live: LiveCache, rules: HealthRules | None
) -> tuple[Work, plan.SyncPlan]:
    """What the operation works on in this pass; raises plan.PlanError."""
    assert p.spec is not None and p.comparison is not None
    policy = p.spec.sync_policy
    automated = policy.automated
    only = plan.select(state.get("resources") or [], p.desired)
    inventory = p.status.get("inventory") or []
    live_inventory = {
        k: o
        for k in (plan.key_from_inventory(e) for e in inventory)
        if (o := live.get(k)) is not None
    }
    sync_plan = plan.plan_sync(
        p.desired,
        out_of_sync=None,
        inventory=inventory,
        live=live_inventory,
        prune=bool(state.get("prune")),
        allow_empty=bool(automated and automated.allow_empty) or policy.option("AllowEmpty"),
        app_label=(appmodel.INSTANCE_LABEL, p.name),
        only=only,
    )
    prunes = [
        phases.Prune(
            k,
            _live_wave(live_inventory.get(k)),
            last=policy.option("PruneLast") or waves.prune_last(live_inventory.get(k)),
        )
        for k in sync_plan.prune
    ]
    return (
        Work(
            resources=[o for o in p.desired if only is None or key_of(o) in only],
            hooks=list(p.hooks) if only is None else [],
            prunes=prunes,
            prune_uids=sync_plan.prune_uids,
            out_of_sync=(p.comparison.out_of_sync if policy.option("ApplyOutOfSyncOnly") else None),
            options=sync_options.for_spec(p.spec),
            rules=rules,
            unchanged=frozenset(p.comparison.unchanged),
        ),
        sync_plan,
    )


def health_timeout(app: Obj) -> float:
    text = objects.annotations(app).get(TIMEOUT_ANNOTATION)
    if not text:
        return DEFAULT_TIMEOUT
    try:
        return max(1.0, appmodel.duration_seconds(str(text)))
    except ValueError:
        return DEFAULT_TIMEOUT


def describe_seconds(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def _parse(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def age_of(stamp: str) -> float:
    try:
        return (dt.datetime.now(dt.UTC) - _parse(stamp)).total_seconds()
    except ValueError:
        return 0.0


@dataclass
class Work:
    """What the operation works on in this pass (recomputed from the pinned render)."""

    resources: list[Obj]
    hooks: list[Obj]
    prunes: list[phases.Prune]
    prune_uids: dict[ObjectKey, str]
    out_of_sync: set[ObjectKey] | None
    options: sync_options.AppOptions
    rules: HealthRules | None
    # Objects this pass's comparison found an apply would not change (compare.Comparison).
    unchanged: frozenset[ObjectKey] = frozenset()


def result_entry(key: ObjectKey, **fields: Any) -> dict[str, Any]:
    return {
        "group": key.group,
        "kind": key.kind,
        "namespace": key.namespace,
        "name": key.name,
    } | {k: v for k, v in fields.items() if v not in (None, "")}


def results(state: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = state.setdefault("syncResult", {}).setdefault("resources", [])
    return found


def record_result(state: dict[str, Any], entry: dict[str, Any]) -> None:
    """Add or replace the result of one object (hooks by their source and phase)."""
    found = results(state)
    ident = _ident(entry)
    for i, old in enumerate(found):
        if _ident(old) == ident:
            found[i] = old | entry
            return
    found.append(entry)


def _ident(entry: dict[str, Any]) -> tuple[str, ...]:
    if entry.get("hookType"):
        return ("hook", entry.get("hookType", ""), entry.get("kind", ""), entry.get("source", ""))
    return (entry.get("group", ""), entry["kind"], entry.get("namespace", ""), entry["name"])


def applied_keys(state: dict[str, Any]) -> list[ObjectKey]:
    return [
        ObjectKey(r.get("group", ""), r["kind"], r.get("namespace", ""), r["name"])
        for r in results(state)
        if not r.get("hookType") and r.get("status") == "Synced"
    ]


def hook_results(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in results(state) if r.get("hookType")]


def hooks_of(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The hook results to show beside a history entry."""
    return [
        {
            k: r.get(k)
            for k in ("hookType", "kind", "name", "hookPhase", "message")
            if r.get(k) is not None
        }
        for r in hook_results(state)
    ]
