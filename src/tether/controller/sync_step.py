"""The sync step of a reconcile: decide, plan, apply, prune, record.

A sync runs for a requested operation, for auto-sync on a new revision, or
for drift when self-heal is on, never while a rollback has paused auto-sync.
A dry-run error on any object it would apply stops the whole sync, so a
commit is applied entirely or not at all; so does an object that already
exists and is not this app's (``engine.adoption``): nothing is taken over
from another app or from nobody unless adoption was allowed. The app's
objects are written by ``Pass.writer`` (the project's ServiceAccount) when
there is one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tether.adapters.kube import ApiError, KubeClient, UnknownKind
from tether.controller import (
    destinations,
    drift_report,
    events,
    exactly_once,
    operation,
    step_runner,
    takeover,
)
from tether.controller import status as st
from tether.controller.compare import Comparison
from tether.controller.live_cache import LiveCache
from tether.controller.passes import AppMemory, Pass, Stop
from tether.controller.sync import SyncOutcome, TakeoverRefused, execute
from tether.engine import adoption, phases, plan, sync_options
from tether.engine import application as appmodel
from tether.engine import diff as diffing
from tether.engine.health import HealthRules
from tether.engine.objects import Obj, ObjectKey, key_of

log = logging.getLogger(__name__)
SHARED_CONDITION = "SharedResource"
INTENT_RETRY_SECONDS = 2.0


class Syncer:
    """The step of a reconcile that changes the cluster: decide, plan, apply, prune, record.

    Holds what it needs to act (the admin client, the live cache) and counts the
    syncs it ran (``sync_count``, exported as a metric).
    """

    def __init__(
        self,
        *,
        kube: KubeClient,
        live: LiveCache,
        rules: Callable[[], Awaitable[HealthRules | None]] | None = None,
        home: KubeClient | None = None,
    ) -> None:
        self.kube = kube
        self.live = live
        # Where the Application and its Events live (``kube`` is its destination cluster).
        self.home = home or kube
        self.sync_count = 0
        self.runner = step_runner.Runner(kube, live)
        self._rules = rules

    async def rules(self) -> HealthRules | None:
        """The cluster's custom health rules, which decide when a wave is healthy."""
        return await self._rules() if self._rules is not None else None

    def _decide(
        self, p: Pass, memory: AppMemory, shared: set[ObjectKey] | None = None
    ) -> tuple[bool, str]:
        assert p.spec is not None and p.comparison is not None
        if p.operation is not None:
            who = ((p.operation.get("initiatedBy") or {}).get("username")) or "unknown"
            return True, who
        automated = p.spec.sync_policy.automated
        if automated is None or p.paused or p.status["sync"]["status"] == "Synced":
            return False, ""
        differ = p.comparison.out_of_sync
        if differ and differ <= (shared or set()) and not p.extras:
            return False, ""  # only another app's objects differ: nothing to do
        only_prune = not p.comparison.out_of_sync and bool(p.extras)
        if only_prune and not automated.prune:
            return False, ""
        deployed = st.deployed_revision(p.status)
        if deployed == p.sha and not automated.self_heal and not only_prune:
            return False, ""
        retry = p.spec.sync_policy.retry
        limit = retry.limit if retry else 0
        if memory.failed_sha == p.sha and memory.attempts > limit:
            return False, ""
        return True, "automated"

    async def sync(self, p: Pass, memory: AppMemory) -> None:
        assert p.spec is not None and p.comparison is not None
        inventory_keys = {plan.key_from_inventory(e) for e in p.status.get("inventory") or []}
        seen = adoption.judge(
            p.desired,
            {k: o for k, o in p.live_of.items() if o is not None},
            app_name=p.name,
            inventory=inventory_keys,
            adopt_existing=p.spec.sync_policy.option("AdoptExisting"),
        )
        st.set_condition(p.status, SHARED_CONDITION, adoption.shared_message(seen))
        shared = {c.key for c in seen if c.verdict == adoption.SHARED}
        # FailOnSharedResource: a sync is not skipped for another app's objects, it fails.
        fail_shared = p.spec.sync_policy.option("FailOnSharedResource")
        state = operation.running(p.status)
        if state is not None:
            await self._advance(p, memory, state)
            return
        go, initiated_by = self._decide(p, memory, set() if fail_shared else shared)
        if not go:
            return
        op_sync = ((p.operation or {}).get("sync")) or {}
        automated = p.spec.sync_policy.automated
        prune = op_sync.get("prune")
        if prune is None:
            prune = bool(automated and automated.prune)
        dry_run = bool(op_sync.get("dryRun"))
        only = plan.select(op_sync.get("resources") or [], p.desired)
        policy = p.spec.sync_policy
        started = events.now_iso()
        if initiated_by == "automated" and st.deployed_revision(p.status) == p.sha:
            await drift_report.read_field_owners(self.kube, p)
        if policy.option("CreateNamespace") and not dry_run:
            await destinations.ensure_namespace(
                self.kube, self.live, p.spec.destination.namespace, p.name
            )
        if not dry_run:
            await destinations.validate_unvalidated(p, p.writer or self.kube, self.live)
        live = {
            k: o
            for k in (plan.key_from_inventory(e) for e in p.status.get("inventory") or [])
            if (o := self.live.get(k)) is not None
        }
        try:
            sync_plan = plan.plan_sync(
                p.desired,
                out_of_sync=(
                    p.comparison.out_of_sync if policy.option("ApplyOutOfSyncOnly") else None
                ),
                inventory=p.status.get("inventory") or [],
                live=live,
                prune=bool(prune),
                allow_empty=(
                    bool(automated and automated.allow_empty) or policy.option("AllowEmpty")
                ),
                app_label=(appmodel.INSTANCE_LABEL, p.name),
                only=only,
            )
        except plan.PlanError as exc:
            raise Stop("ComparisonError", str(exc)) from None
        refused = await takeover.refused(self.kube, self.live, p, sync_plan, inventory_keys)
        if fail_shared:
            refused |= {
                c.key: TakeoverRefused(f"{c.message} (FailOnSharedResource=true)")
                for c in seen
                if c.verdict == adoption.SHARED
            }
        blocked = _blocking_errors(p.comparison, sync_plan, p.desired)
        if refused:
            # Applying would take over objects that are not ours: the commit is
            # applied whole or not at all, so nothing is applied (or pruned).
            outcome = SyncOutcome(errors=refused)
        elif blocked:
            # The API server already refused these in the comparison's dry run: applying
            # the rest would deploy half a commit, so nothing is applied (or pruned).
            outcome = SyncOutcome(errors=blocked)
        elif not dry_run:
            # Phases, waves and hooks: an operation that may take several passes.
            state = operation.start(
                p, initiated_by=initiated_by, started=started, prune=bool(prune)
            )
            await self._advance(p, memory, state, new=True)
            return
        else:
            dest = p.spec.destination.namespace
            creating = (
                {dest}
                if policy.option("CreateNamespace")
                and not self.live.has(destinations.namespace_key(dest))
                else set()
            )
            outcome = await execute(
                p.writer or self.kube,
                sync_plan,
                app_name=p.name,
                options=sync_options.for_spec(p.spec),
                dry_run=dry_run,
                new_namespaces=creating,
            )
        p.outcome = outcome
        self.sync_count += 1
        memory.sync_errors = {k: e.message for k, e in outcome.errors.items()}
        message = outcome.message()
        if dry_run:
            message = "dry run: " + message
        phase = "Succeeded" if outcome.ok else "Failed"
        operation.put(
            p.status,
            {
                "phase": phase,
                "message": message,
                "startedAt": started,
                "finishedAt": events.now_iso(),
                "initiatedBy": initiated_by,
                "revision": p.sha,
                "dryRun": dry_run,
            }
            | exactly_once.request_field(p),
        )
        if dry_run:
            self._clear_operation(p)
            return
        await self._record(
            p,
            memory,
            outcome,
            this_pass=outcome,
            message=message,
            initiated_by=initiated_by,
            skipped_prune=sync_plan.skipped_prune,
            partial=only is not None,
        )
        self._clear_operation(p)

    async def _advance(
        self, p: Pass, memory: AppMemory, state: dict[str, Any], *, new: bool = False
    ) -> None:
        """Take the running operation as far as it goes in this pass; record it when done.

        A ``new`` one is stored as Running before its first step (``exactly_once``);
        when the API server refuses that, it does not start, and is decided again soon."""
        assert p.spec is not None
        try:
            work, sync_plan = operation.work(p, state, self.live, await self.rules())
        except plan.PlanError as exc:
            raise Stop("ComparisonError", str(exc)) from None
        if not state.get("steps"):
            state["steps"] = [
                s.id
                for s in phases.plan(
                    work.resources,
                    work.hooks,
                    work.prunes,
                    prune_first=operation.prune_first(p.app),
                )
            ]
        if new:
            before = p.status.get("operationState")
            operation.put(p.status, state)
            if not await exactly_once.store_intent(self.home, p, memory):
                p.status.pop("operationState", None)
                if before is not None:
                    p.status["operationState"] = before
                p.requeue_after = INTENT_RETRY_SECONDS
                return
            self.sync_count += 1

        async def save(current: dict[str, Any]) -> bool:
            operation.put(p.status, current)
            return await exactly_once.store_state(self.home, p, memory)

        progress = await self.runner.advance(p, state, work, save)
        p.outcome = progress.outcome
        if not progress.finished:
            _settle(p, progress.outcome)
            operation.put(p.status, state)
            return
        outcome = operation.summary(state)
        message = outcome.message()
        if progress.failed:
            nothing = "" if outcome.applied or outcome.pruned else "; nothing was applied"
            message = f"sync failed: {progress.failed}{nothing}"
            outcome.errors = outcome.errors or {
                operation.OPERATION_KEY: ApiError(0, "SyncFailed", progress.failed)
            }
        operation.put(p.status, operation.finished(state, message, ok=not progress.failed))
        await self._record(
            p,
            memory,
            outcome,
            this_pass=progress.outcome,
            message=message,
            initiated_by=str(state.get("initiatedBy") or "automated"),
            skipped_prune=sync_plan.skipped_prune,
            partial=bool(state.get("resources")),
            hook_results=operation.hooks_of(state),
            operation_id=str(state.get("id") or ""),
        )
        if state.get("requested"):
            self._clear_operation(p)

    async def _record(
        self,
        p: Pass,
        memory: AppMemory,
        outcome: SyncOutcome,
        *,
        this_pass: SyncOutcome,
        message: str,
        initiated_by: str,
        skipped_prune: list[ObjectKey],
        partial: bool,
        hook_results: list[dict[str, Any]] | None = None,
        operation_id: str = "",
    ) -> None:
        """What a finished sync leaves: inventory, history, events, conditions, retries.

        ``outcome`` is the whole sync's; ``this_pass`` what this pass did (drift
        reverted now is told from it, before the pass's comparison is settled)."""
        assert p.spec is not None
        memory.sync_errors = {
            k: e.message for k, e in outcome.errors.items() if k != operation.OPERATION_KEY
        }
        previous = p.status.get("inventory") or []
        drift = drift_report.message(p, this_pass) if initiated_by == "automated" else ""
        _settle(p, this_pass)
        if outcome.ok:
            memory.failed_sha, memory.attempts = "", 0
            inventory = {plan.inventory_id(key_of(o)) for o in p.desired}
            inventory |= {plan.inventory_id(k) for k in skipped_prune}
            if partial:
                inventory |= set(previous)
            p.status["inventory"] = sorted(inventory)
            st.set_condition(p.status, "SyncError", None)
            if drift:
                await events.record(self.home, p.app, "DriftReverted", drift)
            elif (outcome.applied or outcome.pruned) and st.new_deploy(
                p.status, p.sha, initiated_by
            ):
                st.append_history(
                    p.status,
                    revision=p.sha,
                    initiated_by=initiated_by,
                    message=p.status.get("revisionMessage", ""),
                    limit=p.spec.revision_history_limit,
                    source=p.spec.source.model_dump(by_alias=True, exclude_none=True),
                    operation_id=operation_id,
                )
                if hook_results:
                    p.status["history"][-1]["hooks"] = hook_results
            await events.record(
                self.home,
                p.app,
                "Synced",
                f"{message} at {p.sha[:12]} (initiated by {initiated_by})",
            )
            p.status["sync"] = {
                "status": "Synced" if not skipped_prune else "OutOfSync",
                "revision": p.sha,
            }
        else:
            memory.failed_sha = p.sha if memory.failed_sha != p.sha else memory.failed_sha
            memory.attempts += 1
            p.status["inventory"] = sorted(
                set(previous) | {plan.inventory_id(k) for k in outcome.applied}
            )
            st.set_condition(p.status, "SyncError", message)
            await events.record(self.home, p.app, "SyncFailed", message, warning=True)
            retry = p.spec.sync_policy.retry
            if retry and memory.attempts <= retry.limit:
                p.requeue_after = retry.delay(memory.attempts)

    def finish_operation(self, p: Pass, phase: str, message: str) -> None:
        operation.put(
            p.status,
            {
                "phase": phase,
                "message": message,
                "startedAt": events.now_iso(),
                "finishedAt": events.now_iso(),
                "initiatedBy": ((p.operation or {}).get("initiatedBy") or {}).get("username", ""),
            }
            | exactly_once.request_field(p),
        )
        self._clear_operation(p)

    def _clear_operation(self, p: Pass) -> None:
        p.app["_clear_operation"] = True


def _settle(p: Pass, outcome: SyncOutcome) -> None:
    """What this sync just did, reflected in the pass: applied objects now match
    Git and pruned ones are gone (so status.resources agrees with status.sync)."""
    assert p.comparison is not None
    for key in outcome.applied:
        d = p.comparison.diffs.get(key)
        result = outcome.results.get(key)
        now = d.desired if d is not None else (diffing.normalise(result) if result else None)
        p.comparison.diffs[key] = diffing.ResourceDiff(key, "Synced", now, now)
        p.comparison.errors.pop(key, None)
    pruned = set(outcome.pruned)
    p.extras = [k for k in p.extras if k not in pruned]


def _blocking_errors(
    comparison: Comparison, sync_plan: plan.SyncPlan, desired: list[Obj]
) -> dict[ObjectKey, ApiError]:
    """Dry-run errors on objects this sync would apply, except custom resources whose
    CRD comes in the same sync (their kind cannot be known before it is Established)."""
    coming = set(plan.crd_scopes(desired))
    planned = {key_of(o) for o in sync_plan.apply}
    return {
        k: e
        for k, e in comparison.errors.items()
        if k in planned and not (isinstance(e, UnknownKind) and (e.api_version, e.kind) in coming)
    }
