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
from dataclasses import dataclass, field
from typing import Any

from tether.adapters.kube import ApiError, KubeClient
from tether.controller import events, exactly_once
from tether.controller import hooks as hookrun
from tether.controller.live_cache import LiveCache
from tether.controller.passes import Pass
from tether.controller.sync import SyncOutcome, execute
from tether.engine import application as appmodel
from tether.engine import hooks as hookmodel
from tether.engine import objects, phases, plan, sync_options, waves
from tether.engine.health import HealthRules, HealthStatus
from tether.engine.objects import Obj, ObjectKey, key_of
from tether.engine.tree import build_tree

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


def _age(stamp: str) -> float:
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


@dataclass
class Verdict:
    """Where the step stands: done, waiting (why), or failed (why)."""

    state: str  # done | waiting | failed
    message: str = ""


@dataclass
class Progress:
    """What this pass did, for the pass's status and the sync's final record."""

    outcome: SyncOutcome = field(default_factory=SyncOutcome)
    finished: bool = False
    failed: str = ""


def _result_entry(key: ObjectKey, **fields: Any) -> dict[str, Any]:
    return {
        "group": key.group,
        "kind": key.kind,
        "namespace": key.namespace,
        "name": key.name,
    } | {k: v for k, v in fields.items() if v not in (None, "")}


def results(state: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = state.setdefault("syncResult", {}).setdefault("resources", [])
    return found


def _record(state: dict[str, Any], entry: dict[str, Any]) -> None:
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


class Runner:
    """Advances a running operation as far as the cluster allows in one pass."""

    def __init__(self, kube: KubeClient, live: LiveCache) -> None:
        self.kube = kube
        self.live = live

    async def advance(
        self, p: Pass, state: dict[str, Any], work: Work, save: Save | None = None
    ) -> Progress:
        """``save`` stores the operation before a finished hook is deleted."""
        progress = Progress()
        writer = p.writer or self.kube
        timeout = health_timeout(p.app)
        await self.live.ensure_kinds(
            {(str(h["apiVersion"]), str(h["kind"])) for h in work.hooks}, wait=True
        )
        while True:
            steps = [phases.Step.parse(s) for s in state["steps"]]
            index = int(state.get("step", 0))
            if index >= len(steps):
                return self._end(state, progress)
            step = steps[index]
            if not state.get("stepApplied"):
                errors = await self._run(writer, p, state, step, work, progress)
                state["stepApplied"] = True
                state["stepStartedAt"] = events.now_iso()
                if errors:
                    if not self._fail(state, errors, work):
                        return self._end(state, progress)
                    continue
            step_hooks = phases.members(step, work.hooks)
            if phases.must_wait(steps, index, has_hooks=bool(step_hooks)):
                verdict = await self._check(writer, p, state, step, work, save)
                if verdict.state == "failed":
                    if not self._fail(state, verdict.message, work):
                        return self._end(state, progress)
                    continue
                if verdict.state == "waiting":
                    waited = _age(str(state.get("stepStartedAt") or ""))
                    if waited > timeout:
                        message = (
                            f"{step.describe()} was not done within "
                            f"{describe_seconds(timeout)}: {verdict.message}"
                        )
                        if not self._fail(state, message, work):
                            return self._end(state, progress)
                        continue
                    state["message"] = f"waiting for {step.describe()}: {verdict.message}"
                    p.requeue_after = RECHECK_SECONDS
                    return progress
            state["step"] = index + 1
            state["stepApplied"] = False

    def _end(self, state: dict[str, Any], progress: Progress) -> Progress:
        progress.finished = True
        progress.failed = str(state.get("failure") or "")
        return progress

    def _fail(self, state: dict[str, Any], message: str, work: Work) -> bool:
        """Turn the operation to its SyncFail hooks; False when there is nothing left to run."""
        if state.get("failure"):
            state["failure"] += f"; then {message}"
            return False
        state["failure"] = message
        fail_steps = phases.fail_plan(work.hooks)
        if not fail_steps:
            return False
        state["steps"] = [s.id for s in fail_steps]
        state["step"] = 0
        state["stepApplied"] = False
        return True

    async def _run(
        self,
        writer: KubeClient,
        p: Pass,
        state: dict[str, Any],
        step: phases.Step,
        work: Work,
        progress: Progress,
    ) -> str:
        """Apply (or prune) the step; returns why it failed, or ""."""
        if step.action != phases.APPLY:
            prunes = phases.prunes_of(step, work.prunes)
            sync_plan = plan.SyncPlan(
                apply=[],
                prune=[pr.key for pr in prunes],
                skipped_prune=[],
                prune_uids={pr.key: work.prune_uids.get(pr.key, "") for pr in prunes},
            )
            outcome = await execute(writer, sync_plan, app_name=p.name)
            self._merge(progress.outcome, outcome)
            for key in outcome.pruned:
                _record(state, _result_entry(key, status="Pruned", syncPhase=step.phase))
            for key, why in outcome.kept.items():
                _record(state, _result_entry(key, status="PruneSkipped", message=why))
            for key, err in outcome.errors.items():
                _record(state, _result_entry(key, status="SyncFailed", message=err.message))
            return _first_error(outcome)
        members = phases.members(step, work.resources)
        apply = [o for o in members if work.out_of_sync is None or key_of(o) in work.out_of_sync]
        apply.sort(key=lambda o: plan.apply_order(key_of(o)))
        apply = self._skip_unchanged(p, state, step, work, apply, progress)
        error = ""
        if apply:
            outcome = await execute(
                writer,
                plan.SyncPlan(apply=apply, prune=[], skipped_prune=[]),
                app_name=p.name,
                options=work.options,
            )
            self._merge(progress.outcome, outcome)
            for key in outcome.applied:
                if p.comparison is not None and key in outcome.results:
                    p.comparison.settle(key, outcome.results[key])
                rv = ((outcome.results.get(key) or {}).get("metadata") or {}).get(
                    "resourceVersion", ""
                )
                _record(
                    state,
                    _result_entry(
                        key,
                        status="Synced",
                        syncPhase=step.phase,
                        wave=step.wave,
                        resourceVersion=rv,
                    ),
                )
            for key, err in outcome.errors.items():
                _record(
                    state,
                    _result_entry(key, status="SyncFailed", message=err.message, wave=step.wave),
                )
            error = _first_error(outcome)
        if error:
            return error
        for hook in phases.members(step, work.hooks):
            await self._start_hook(writer, state, step, hook)
        return ""

    def _skip_unchanged(
        self,
        p: Pass,
        state: dict[str, Any],
        step: phases.Step,
        work: Work,
        apply: list[Obj],
        progress: Progress,
    ) -> list[Obj]:
        """The objects to send: one this pass's comparison found an apply would not
        change, still at the version it was compared at, counts as applied as it is."""
        send = []
        for obj in apply:
            key = key_of(obj)
            compared = p.live_of.get(key) if key in work.unchanged else None
            live = self.live.get(key) if compared is not None else None
            if compared is None or live is None:
                send.append(obj)
                continue
            version = str(objects.meta(live).get("resourceVersion") or "")
            if not version or version != str(objects.meta(compared).get("resourceVersion")):
                send.append(obj)
                continue
            progress.outcome.applied.append(key)
            progress.outcome.results[key] = live
            _record(
                state,
                _result_entry(
                    key,
                    status="Synced",
                    syncPhase=step.phase,
                    wave=step.wave,
                    resourceVersion=version,
                ),
            )
        return send

    async def _start_hook(
        self, writer: KubeClient, state: dict[str, Any], step: phases.Step, hook: Obj
    ) -> None:
        try:
            run = await hookrun.start(
                writer, self.live, hook, op_id=str(state["id"]), hook_type=step.phase
            )
        except Exception as exc:  # an API refusal is the hook's failure, told as such
            message = getattr(exc, "message", str(exc))
            run = hookrun.HookRun(hookmodel.source_name(hook), step.phase, hookmodel.FAILED)
            run.message = f"could not create the hook: {message}"
        key = run.key or key_of(hook)
        _record(
            state,
            _result_entry(
                key,
                source=run.source,
                hookType=run.hook_type,
                hookPhase=run.phase,
                syncPhase=step.phase,
                wave=step.wave,
                message=run.message,
            ),
        )

    async def _check(
        self,
        writer: KubeClient,
        p: Pass,
        state: dict[str, Any],
        step: phases.Step,
        work: Work,
        save: Save | None = None,
    ) -> Verdict:
        if step.action != phases.APPLY:
            for pr in phases.prunes_of(step, work.prunes):
                if self.live.get(pr.key) is not None:
                    return Verdict("waiting", f"{pr.key.kind} {pr.key.name} is being deleted")
            return Verdict("done")
        verdict = self._resources_done(p, state, phases.members(step, work.resources), work)
        hook_verdict = await self._hooks_done(writer, state, step, work, save)
        if hook_verdict.state == "failed":
            return hook_verdict
        if verdict.state != "done":
            return verdict
        return hook_verdict

    def _resources_done(
        self, p: Pass, state: dict[str, Any], members: list[Obj], work: Work
    ) -> Verdict:
        if not members:
            return Verdict("done")
        applied_rv = {
            ObjectKey(r.get("group", ""), r["kind"], r.get("namespace", ""), r["name"]): str(
                r.get("resourceVersion") or ""
            )
            for r in results(state)
            if not r.get("hookType")
        }
        for obj in members:
            key = key_of(obj)
            live = self.live.get(key)
            if live is None:
                return Verdict("waiting", f"{key.kind} {key.name} is not in the cluster yet")
            seen = str(objects.meta(live).get("resourceVersion") or "")
            if not _caught_up(seen, applied_rv.get(key, "")):
                return Verdict("waiting", f"{key.kind} {key.name}: waiting for its new state")
        namespace = p.spec.destination.namespace if p.spec else ""
        scope = self.live.in_namespace(namespace) + [
            o for o in (self.live.get(key_of(m)) for m in members) if o is not None
        ]
        tree = build_tree(members, scope, app_name=p.name, namespace="", rules=work.rules)
        for node in tree.nodes:
            if node.role != "managed":
                continue
            if node.health.status not in DONE_HEALTH:
                words = node.health.message or node.health.reason
                return Verdict(
                    "waiting", f"{node.key.kind} {node.key.name} is {node.health.status}: {words}"
                )
        return Verdict("done")

    async def _hooks_done(
        self,
        writer: KubeClient,
        state: dict[str, Any],
        step: phases.Step,
        work: Work,
        save: Save | None = None,
    ) -> Verdict:
        waiting = ""
        for hook in phases.members(step, work.hooks):
            source = hookmodel.source_name(hook)
            entry = next(
                (
                    r
                    for r in hook_results(state)
                    if r.get("hookType") == step.phase
                    and r.get("source") == source
                    and r.get("kind") == hook.get("kind")
                ),
                None,
            )
            if entry is None or entry.get("hookPhase") == hookrun.PENDING:
                await self._start_hook(writer, state, step, hook)
                waiting = waiting or f"{hook.get('kind')} {source} is being created"
                continue
            if entry.get("hookPhase") in (hookmodel.SUCCEEDED, hookmodel.FAILED):
                await self._delete_leftover(writer, state, hook, str(entry["hookPhase"]))
            if entry.get("hookPhase") == hookmodel.FAILED:
                return Verdict("failed", _hook_failure(entry))
            if entry.get("hookPhase") == hookmodel.SUCCEEDED:
                continue
            run = hookrun.HookRun(
                source,
                step.phase,
                hookmodel.RUNNING,
                ObjectKey(
                    entry.get("group", ""), entry["kind"], entry.get("namespace", ""), entry["name"]
                ),
                seen=bool(entry.get("seen")),
            )
            outcome, message, obj = hookrun.assess(self.live, run, work.rules)
            if obj is None and outcome == hookmodel.FAILED and run.key is not None:
                outcome, message = await _confirm_gone(writer, hook, run.key, outcome, message)
            before = dict(entry)
            entry["hookPhase"] = outcome
            if message:
                entry["message"] = message
            if obj is not None:
                entry["seen"] = True  # from now on, missing means deleted
            if outcome in (hookmodel.SUCCEEDED, hookmodel.FAILED) and obj is not None:
                entry["finishedAt"] = events.now_iso()
                # Its outcome is stored before it goes: killed after the delete, the
                # next controller would wait for a hook that no longer exists.
                deleted = hookmodel.deleted_after(hook, outcome)
                if deleted and save is not None and not await save(state):
                    entry.clear()
                    entry.update(before)  # seen finished again on the next pass
                    waiting = waiting or f"{entry['kind']} {entry['name']}: finished"
                    continue
                await hookrun.apply_delete_policy(writer, obj, hook, outcome)
            if outcome == hookmodel.FAILED:
                return Verdict("failed", _hook_failure(entry))
            if outcome != hookmodel.SUCCEEDED:
                waiting = waiting or f"{entry['kind']} {entry['name']}: {message or 'running'}"
        return Verdict("waiting", waiting) if waiting else Verdict("done")

    async def _delete_leftover(
        self, writer: KubeClient, state: dict[str, Any], hook: Obj, outcome: str
    ) -> None:
        """A finished hook its policy deletes that is still there: the controller was
        killed between storing its outcome and deleting it."""
        if not hookmodel.deleted_after(hook, outcome):
            return
        left = hookrun.find(self.live, hook, str(state.get("id") or ""))
        if left is not None:
            await hookrun.apply_delete_policy(writer, left, hook, outcome)

    @staticmethod
    def _merge(total: SyncOutcome, part: SyncOutcome) -> None:
        total.applied += part.applied
        total.pruned += part.pruned
        total.errors |= part.errors
        total.results |= part.results
        total.kept |= part.kept


def _hook_failure(entry: dict[str, Any]) -> str:
    return (
        f"{entry.get('hookType')} hook {entry.get('kind')} {entry.get('name')} failed: "
        f"{entry.get('message') or 'failed'}"
    )


def _first_error(outcome: SyncOutcome) -> str:
    if outcome.ok:
        return ""
    key, err = next(iter(outcome.errors.items()))
    more = f" (and {len(outcome.errors) - 1} more)" if len(outcome.errors) > 1 else ""
    return f"{key}: {err.message}{more}"


def _caught_up(seen: str, applied: str) -> bool:
    """Whether the cached object is at least as new as the one our apply returned
    (resourceVersions are etcd revisions here; an unreadable one is not waited on)."""
    if not applied:
        return True
    try:
        return int(seen) >= int(applied)
    except ValueError:
        return True


async def _confirm_gone(
    writer: KubeClient, hook: Obj, key: ObjectKey, outcome: str, message: str
) -> tuple[str, str]:
    """A hook missing from the live cache, asked of the API server before it is failed:
    a cache still filling after a restart has not seen it yet."""
    try:
        found = await writer.get_or_none(
            str(hook.get("apiVersion")), key.kind, key.name, key.namespace
        )
    except Exception:  # not answered: look again on the next pass
        return hookmodel.RUNNING, "created; waiting to see it"
    return (outcome, message) if found is None else (hookmodel.RUNNING, "running")


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
