"""Runs the steps of a sync in progress: applies each wave, starts and watches its hooks,
and says whether the step is done, waiting (why) or failed (why).

The operation itself, kept in ``status.operationState``, is ``operation.py``;
this module only advances it, as far as the cluster allows in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether.adapters.kube import KubeClient
from tether.controller import events
from tether.controller import hooks as hookrun
from tether.controller import operation as op
from tether.controller.live_cache import LiveCache
from tether.controller.passes import Pass
from tether.controller.sync import SyncOutcome, execute
from tether.engine import hooks as hookmodel
from tether.engine import objects, phases, plan
from tether.engine.objects import Obj, ObjectKey, key_of
from tether.engine.tree import build_tree


@dataclass
class Progress:
    """What this pass did, for the pass's status and the sync's final record."""

    outcome: SyncOutcome = field(default_factory=SyncOutcome)
    finished: bool = False
    failed: str = ""


@dataclass
class Verdict:
    """Where the step stands: done, waiting (why), or failed (why)."""

    state: str  # done | waiting | failed
    message: str = ""


class Runner:
    """Advances a running operation as far as the cluster allows in one pass."""

    def __init__(self, kube: KubeClient, live: LiveCache) -> None:
        self.kube = kube
        self.live = live

    async def advance(
        self, p: Pass, state: dict[str, Any], work: op.Work, save: op.Save | None = None
    ) -> Progress:
        """``save`` stores the operation before a finished hook is deleted."""
        progress = Progress()
        writer = p.writer or self.kube
        timeout = op.health_timeout(p.app)
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
                    waited = op.age_of(str(state.get("stepStartedAt") or ""))
                    if waited > timeout:
                        message = (
                            f"{step.describe()} was not done within "
                            f"{op.describe_seconds(timeout)}: {verdict.message}"
                        )
                        if not self._fail(state, message, work):
                            return self._end(state, progress)
                        continue
                    state["message"] = f"waiting for {step.describe()}: {verdict.message}"
                    p.requeue_after = op.RECHECK_SECONDS
                    return progress
            state["step"] = index + 1
            state["stepApplied"] = False

    def _end(self, state: dict[str, Any], progress: Progress) -> Progress:
        progress.finished = True
        progress.failed = str(state.get("failure") or "")
        return progress

    def _fail(self, state: dict[str, Any], message: str, work: op.Work) -> bool:
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
        work: op.Work,
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
                op.record_result(state, op.result_entry(key, status="Pruned", syncPhase=step.phase))
            for key, why in outcome.kept.items():
                op.record_result(state, op.result_entry(key, status="PruneSkipped", message=why))
            for key, err in outcome.errors.items():
                op.record_result(
                    state, op.result_entry(key, status="SyncFailed", message=err.message)
                )
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
                _record_synced(state, key, step, rv)
            for key, err in outcome.errors.items():
                op.record_result(
                    state,
                    op.result_entry(key, status="SyncFailed", message=err.message, wave=step.wave),
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
        work: op.Work,
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
            _record_synced(state, key, step, version)
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
        op.record_result(
            state,
            op.result_entry(
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
        work: op.Work,
        save: op.Save | None = None,
    ) -> Verdict:
        if step.action != phases.APPLY:
            for pr in phases.prunes_of(step, work.prunes):
                if self.live.has(pr.key):
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
        self, p: Pass, state: dict[str, Any], members: list[Obj], work: op.Work
    ) -> Verdict:
        if not members:
            return Verdict("done")
        applied_rv = {
            ObjectKey(r.get("group", ""), r["kind"], r.get("namespace", ""), r["name"]): str(
                r.get("resourceVersion") or ""
            )
            for r in op.results(state)
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
            if node.health.status not in op.DONE_HEALTH:
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
        work: op.Work,
        save: op.Save | None = None,
    ) -> Verdict:
        waiting = ""
        for hook in phases.members(step, work.hooks):
            source = hookmodel.source_name(hook)
            entry = next(
                (
                    r
                    for r in op.hook_results(state)
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


def _record_synced(
    state: dict[str, Any], key: ObjectKey, step: phases.Step, resource_version: str
) -> None:
    op.record_result(
        state,
        op.result_entry(
            key,
            status="Synced",
            syncPhase=step.phase,
            wave=step.wave,
            resourceVersion=resource_version,
        ),
    )


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
