"""Reconcile one Application: source -> render -> compare -> sync -> health -> status.

Flux-style steps as plain async functions over one ``Pass`` (the working
state of a reconcile). Each step either fills the pass or stops it with a
condition; a stopped pass never applies or prunes anything, so a broken
commit leaves the cluster in its last good state.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from tether.adapters import git
from tether.adapters.kube import ApiError, KubeClient, UnknownKind
from tether.adapters.render import RenderError
from tether.controller import events
from tether.controller import status as st
from tether.controller.compare import Comparison, DryRunCache, compare
from tether.controller.live_cache import CHILD_KINDS, LiveCache
from tether.controller.source import Sources
from tether.controller.sync import SyncOutcome, execute
from tether.engine import application as appmodel
from tether.engine import diff as diffing
from tether.engine import objects, plan
from tether.engine.objects import Obj, ObjectKey, key_of, version_of
from tether.engine.tree import ResourceTree, build_tree

log = logging.getLogger(__name__)
REPO_SECRET_LABEL = "tether.dev/secret-type"


class Stop(Exception):
    """Ends a reconcile pass early with a condition (nothing applied)."""

    def __init__(self, ctype: str, message: str) -> None:
        super().__init__(message)
        self.ctype = ctype
        self.message = message


@dataclass
class AppMemory:
    """What survives between passes in this process (the cluster holds the rest)."""

    desired: list[Obj] = field(default_factory=list)
    sync_errors: dict[ObjectKey, str] = field(default_factory=dict)
    failed_sha: str = ""
    attempts: int = 0
    latest: Obj | None = None  # the Application as our own last write returned it


@dataclass
class Pass:
    app: Obj
    status: dict[str, Any]
    spec: appmodel.ApplicationSpec | None = None
    operation: dict[str, Any] | None = None
    sha: str = ""
    desired: list[Obj] = field(default_factory=list)
    comparison: Comparison | None = None
    extras: list[ObjectKey] = field(default_factory=list)
    tree: ResourceTree | None = None
    outcome: SyncOutcome | None = None
    live_of: dict[ObjectKey, Obj | None] = field(default_factory=dict)  # as compared
    requeue_after: float | None = None

    @property
    def name(self) -> str:
        return str(self.app["metadata"]["name"])

    @property
    def paused(self) -> bool:
        return appmodel.PAUSE_ANNOTATION in objects.annotations(self.app)


@dataclass
class Settings:
    app_namespace: str = "tether"
    poll_interval: float = 60.0
    jitter: float = 0.2


class Reconciler:
    def __init__(
        self, kube: KubeClient, live: LiveCache, sources: Sources, settings: Settings
    ) -> None:
        self.kube = kube
        self.live = live
        self.sources = sources
        self.settings = settings
        self.dry_runs = DryRunCache()
        self.memory: dict[str, AppMemory] = {}
        self.sync_count = 0

    def poll_delay(self) -> float:
        spread = self.settings.poll_interval * self.settings.jitter
        return self.settings.poll_interval + random.uniform(-spread, spread)

    # -- the pass -----------------------------------------------------------
    async def reconcile(self, app: Obj, *, fresh: bool = False) -> float | None:
        """Reconcile ``app``; returns when to look again (seconds), or None."""
        memory = self.memory.setdefault(str(app["metadata"]["name"]), AppMemory())
        app = _newest(app, memory.latest)
        p = Pass(app=copy.deepcopy(app), status=copy.deepcopy(app.get("status") or {}),
                 operation=app.get("operation"))
        try:
            self._parse(p)
            await self._source(p, fresh=fresh or p.operation is not None)
            await self._compare(p)
            await self._sync(p, memory)
            for ctype in ("ComparisonError", "InvalidSpec"):
                st.set_condition(p.status, ctype, None)
        except Stop as stop:
            st.set_condition(p.status, stop.ctype, stop.message)
            if p.status.get("sync", {}).get("status") is None:
                p.status["sync"] = {"status": "Unknown", "revision": p.sha}
            if p.operation is not None:
                self._finish_operation(p, "Error", stop.message)
            if stop.ctype == "ComparisonError":
                await events.record(self.kube, app, "ComparisonError", stop.message, warning=True)
        self._health(p, memory)
        self._pause_condition(p)
        p.status["reconciledAt"] = events.now_iso()
        p.status["observedGeneration"] = app["metadata"].get("generation", 0)
        await self._write(p, memory)
        if p.requeue_after is None:
            p.requeue_after = self.poll_delay()
        return p.requeue_after

    async def preview(self, app: Obj) -> Pass:
        """Render and compare without syncing or writing (diff, explain); raises Stop."""
        p = Pass(app=copy.deepcopy(app), status=copy.deepcopy(app.get("status") or {}))
        self._parse(p)
        await self._source(p, fresh=True)
        await self._compare(p)
        return p

    def _parse(self, p: Pass) -> None:
        try:
            p.spec = appmodel.parse_spec(p.app.get("spec") or {})
        except appmodel.SpecError as exc:
            raise Stop("InvalidSpec", f"Application {p.name}: {exc}") from None

    async def _credentials(self, url: str) -> git.GitCredentials | None:
        try:
            api = await self.kube.resource_for("v1", "Secret")
            secrets, _ = await self.kube.list(
                api, self.settings.app_namespace, label_selector=f"{REPO_SECRET_LABEL}=repository"
            )
        except ApiError:
            return None
        return git.credentials_for(url, secrets)

    async def _source(self, p: Pass, *, fresh: bool) -> None:
        assert p.spec is not None
        revision = ((p.operation or {}).get("sync") or {}).get("revision") or None
        creds = await self._credentials(p.spec.source.repo_url)
        try:
            p.sha = await self.sources.resolve(p.spec, revision, creds, fresh=fresh)
            result = await self.sources.render(p.name, p.spec, p.sha, creds, app_name=p.name)
        except RenderError as exc:
            raise Stop("ComparisonError", f"render failed at {p.sha[:12]}: {exc}") from None
        except git.GitError as exc:
            raise Stop("ComparisonError", f"cannot read the source: {exc}") from None
        if not p.status.get("revisionMessage") or p.status.get("sync", {}).get("revision") != p.sha:
            p.status["revisionMessage"] = await self.sources.commit_subject(
                p.spec.source.repo_url, p.sha, creds
            )
        namespaced: dict[tuple[str, str], bool] = {}
        crd_scopes = _crd_scopes(result.objects)
        for obj in result.objects:
            ident = (str(obj.get("apiVersion")), str(obj.get("kind")))
            if ident in namespaced:
                continue
            try:
                namespaced[ident] = (await self.kube.resource_for(*ident)).namespaced
            except UnknownKind:
                namespaced[ident] = crd_scopes.get(ident, True)
        try:
            p.desired = plan.place(
                result.objects,
                destination=p.spec.destination.namespace,
                namespaced=namespaced,
                app_label=(appmodel.INSTANCE_LABEL, p.name),
            )
        except plan.PlanError as exc:
            raise Stop("ComparisonError", str(exc)) from None

    async def _compare(self, p: Pass) -> None:
        assert p.spec is not None
        kinds = {(str(o["apiVersion"]), str(o["kind"])) for o in p.desired} | set(CHILD_KINDS)
        await self.live.ensure_kinds(kinds)
        live_of = {key_of(o): self.live.get(key_of(o)) for o in p.desired}
        p.live_of = live_of
        rules = [
            diffing.IgnoreRule(r.group, r.kind, r.name, r.namespace, tuple(r.json_pointers),
                               tuple(r.managed_fields_managers))
            for r in p.spec.ignore_differences
        ]
        p.comparison = await compare(self.kube, p.desired, live_of, rules, self.dry_runs)
        desired_keys = {key_of(o) for o in p.desired}
        p.extras = [
            k for k in (plan.key_from_inventory(e) for e in p.status.get("inventory") or [])
            if k not in desired_keys and self.live.get(k) is not None
        ]
        status = "OutOfSync" if (p.comparison.out_of_sync or p.extras) else "Synced"
        p.status["sync"] = {"status": status, "revision": p.sha}

    # -- syncing -------------------------------------------------------------
    def _decide(self, p: Pass, memory: AppMemory) -> tuple[bool, str]:
        assert p.spec is not None and p.comparison is not None
        if p.operation is not None:
            who = ((p.operation.get("initiatedBy") or {}).get("username")) or "unknown"
            return True, who
        automated = p.spec.sync_policy.automated
        if automated is None or p.paused or p.status["sync"]["status"] == "Synced":
            return False, ""
        only_prune = not p.comparison.out_of_sync and bool(p.extras)
        if only_prune and not automated.prune:
            return False, ""
        deployed = _deployed_revision(p.status)
        if deployed == p.sha and not automated.self_heal and not only_prune:
            return False, ""
        retry = p.spec.sync_policy.retry
        limit = retry.limit if retry else 0
        if memory.failed_sha == p.sha and memory.attempts > limit:
            return False, ""
        return True, "automated"

    async def _sync(self, p: Pass, memory: AppMemory) -> None:
        assert p.spec is not None and p.comparison is not None
        go, initiated_by = self._decide(p, memory)
        if not go:
            return
        op_sync = ((p.operation or {}).get("sync")) or {}
        automated = p.spec.sync_policy.automated
        prune = op_sync.get("prune")
        if prune is None:
            prune = bool(automated and automated.prune)
        dry_run = bool(op_sync.get("dryRun"))
        only = _selected(op_sync.get("resources") or [], p.desired)
        policy = p.spec.sync_policy
        started = events.now_iso()
        if policy.option("CreateNamespace") and not dry_run:
            await self._ensure_namespace(p.spec.destination.namespace)
        live = {k: o for k in (plan.key_from_inventory(e) for e in p.status.get("inventory") or [])
                if (o := self.live.get(k)) is not None}
        try:
            sync_plan = plan.plan_sync(
                p.desired,
                out_of_sync=(p.comparison.out_of_sync if policy.option("ApplyOutOfSyncOnly")
                             else None),
                inventory=p.status.get("inventory") or [],
                live=live,
                prune=bool(prune),
                allow_empty=(bool(automated and automated.allow_empty)
                             or policy.option("AllowEmpty")),
                app_label=(appmodel.INSTANCE_LABEL, p.name),
                only=only,
            )
        except plan.PlanError as exc:
            raise Stop("ComparisonError", str(exc)) from None
        blocked = _blocking_errors(p.comparison, sync_plan, p.desired)
        if blocked:
            # The API server already refused these in the comparison's dry run: applying
            # the rest would deploy half a commit, so nothing is applied (or pruned).
            outcome = SyncOutcome(errors=blocked)
        else:
            dest = p.spec.destination.namespace
            creating = {dest} if policy.option("CreateNamespace") and self.live.get(
                ObjectKey("", "Namespace", "", dest)) is None else set()
            outcome = await execute(self.kube, sync_plan, replace=policy.option("Replace"),
                                    dry_run=dry_run, new_namespaces=creating)
        p.outcome = outcome
        self.sync_count += 1
        memory.sync_errors = {k: e.message for k, e in outcome.errors.items()}
        message = outcome.message()
        if dry_run:
            message = "dry run: " + message
        phase = "Succeeded" if outcome.ok else "Failed"
        p.status["operationState"] = {
            "phase": phase,
            "message": message,
            "startedAt": started,
            "finishedAt": events.now_iso(),
            "initiatedBy": initiated_by,
            "revision": p.sha,
            "dryRun": dry_run,
        }
        if dry_run:
            self._clear_operation(p)
            return
        previous = p.status.get("inventory") or []
        drift = self._drift_message(p, outcome) if initiated_by == "automated" else ""
        _settle(p, outcome)
        if outcome.ok:
            memory.failed_sha, memory.attempts = "", 0
            inventory = {plan.inventory_id(key_of(o)) for o in p.desired}
            inventory |= {plan.inventory_id(k) for k in sync_plan.skipped_prune}
            if only is not None:
                inventory |= set(previous)
            p.status["inventory"] = sorted(inventory)
            st.set_condition(p.status, "SyncError", None)
            if drift:
                await events.record(self.kube, p.app, "DriftReverted", drift)
            elif outcome.applied or outcome.pruned:
                st.append_history(
                    p.status, revision=p.sha, initiated_by=initiated_by,
                    message=p.status.get("revisionMessage", ""),
                    limit=p.spec.revision_history_limit,
                    source=p.spec.source.model_dump(by_alias=True, exclude_none=True),
                )
            await events.record(
                self.kube, p.app, "Synced",
                f"{message} at {p.sha[:12]} (initiated by {initiated_by})",
            )
            p.status["sync"] = {"status": "Synced" if not sync_plan.skipped_prune else "OutOfSync",
                                "revision": p.sha}
        else:
            memory.failed_sha = p.sha if memory.failed_sha != p.sha else memory.failed_sha
            memory.attempts += 1
            p.status["inventory"] = sorted(
                set(previous) | {plan.inventory_id(k) for k in outcome.applied}
            )
            st.set_condition(p.status, "SyncError", message)
            await events.record(self.kube, p.app, "SyncFailed", message, warning=True)
            retry = p.spec.sync_policy.retry
            if retry and memory.attempts <= retry.limit:
                base = _seconds(retry.backoff.duration)
                cap = _seconds(retry.backoff.max_duration)
                p.requeue_after = min(cap, base * retry.backoff.factor ** (memory.attempts - 1))
        self._clear_operation(p)

    def _drift_message(self, p: Pass, outcome: SyncOutcome) -> str:
        """What self-heal reverted: each object, the paths and who changed them.

        Judged on the live objects as compared; an object deleted after the
        comparison (and so recreated by this sync's apply) is found by its new uid.
        """
        assert p.comparison is not None
        parts = []
        recreated = {
            k for k in outcome.applied
            if k not in p.comparison.out_of_sync and (before := p.live_of.get(k)) is not None
            and (outcome.results.get(k) or {}).get("metadata", {}).get("uid")
            not in (None, before["metadata"].get("uid"))
        }
        for key in sorted(p.comparison.out_of_sync | recreated):
            d = p.comparison.diffs.get(key)
            live = None if key in recreated else p.live_of.get(key)
            if d is None or live is None:
                if live is None and key in p.comparison.diffs and key in outcome.applied:
                    parts.append(f"{key.kind} {key.name} was deleted; recreated")
                continue
            paths = d.changed_paths[:4]
            managers = _managers(live, paths)
            who = f" by {', '.join(managers)}" if managers else ""
            parts.append(f"{key.kind} {key.name}: {', '.join(paths)} changed{who}")
        if _deployed_revision(p.status) != p.sha:
            return ""
        return "self-heal reverted drift: " + "; ".join(parts) if parts else ""

    async def _ensure_namespace(self, name: str) -> None:
        if self.live.get(ObjectKey("", "Namespace", "", name)) is not None:
            return
        try:
            await self.kube.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                field_manager=appmodel.FIELD_MANAGER,
            )
        except ApiError as exc:
            log.warning("could not create namespace %s: %s", name, exc)

    def _finish_operation(self, p: Pass, phase: str, message: str) -> None:
        p.status["operationState"] = {
            "phase": phase, "message": message, "startedAt": events.now_iso(),
            "finishedAt": events.now_iso(),
            "initiatedBy": ((p.operation or {}).get("initiatedBy") or {}).get("username", ""),
        }
        self._clear_operation(p)

    def _clear_operation(self, p: Pass) -> None:
        p.app["_clear_operation"] = True

    # -- health and status ----------------------------------------------------
    def _health(self, p: Pass, memory: AppMemory) -> None:
        if p.spec is None:
            return
        if p.desired:
            memory.desired = p.desired
        desired = p.desired or memory.desired
        ns = p.spec.destination.namespace
        scope = self.live.in_namespace(ns) + [
            o for o in (self.live.get(key_of(d)) for d in desired) if o is not None
            and not key_of(o).namespace
        ]
        p.tree = build_tree(desired, scope, app_name=p.name, namespace=ns)
        health, message = p.tree.health()
        p.status["health"] = {"status": str(health), "message": message}
        versions = {key_of(o): version_of(str(o.get("apiVersion"))) for o in desired}
        errors = dict(memory.sync_errors)
        if p.comparison is not None:
            errors |= {k: e.message for k, e in p.comparison.errors.items()}
        p.status["resources"] = st.resources(
            [key_of(o) for o in desired], versions,
            p.comparison.diffs if p.comparison else {}, errors, p.tree, p.extras,
        )
        p.status["summary"] = {"images": sorted({
            c.get("image", "") for o in desired
            for c in (((o.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
                "containers", [])
        })}

    def _pause_condition(self, p: Pass) -> None:
        reason = objects.annotations(p.app).get(appmodel.PAUSE_ANNOTATION)
        p.status["autoSyncPaused"] = {"paused": bool(reason), "reason": reason or ""}
        st.set_condition(
            p.status, "AutoSyncPaused",
            f"auto-sync is paused ({reason}); run `tether app resume {p.name}` to follow Git again"
            if reason else None,
        )

    async def _write(self, p: Pass, memory: AppMemory) -> None:
        meta = p.app["metadata"]
        old = p.app.get("status") or {}
        changed = _without_time(old) != _without_time(p.status)
        if changed or _stale(old, self.settings.poll_interval):
            try:
                memory.latest = await self.kube.merge_patch(
                    appmodel.API_VERSION, appmodel.KIND, meta["name"], {"status": p.status},
                    meta["namespace"], subresource="status",
                )
            except ApiError as exc:
                log.warning("status of %s not written: %s", p.name, exc)
        if p.app.pop("_clear_operation", False):
            try:
                memory.latest = await self.kube.merge_patch(
                    appmodel.API_VERSION, appmodel.KIND, meta["name"], {"operation": None},
                    meta["namespace"],
                )
            except ApiError as exc:
                log.warning("operation of %s not cleared: %s", p.name, exc)


def _newest(cached: Obj, written: Obj | None) -> Obj:
    """The cache may lag behind our own last write; never act on the older copy."""
    if written is None:
        return cached
    try:
        newer = int(written["metadata"]["resourceVersion"]) > int(
            cached["metadata"]["resourceVersion"]
        )
    except (KeyError, ValueError):
        return cached
    return written if newer else cached


def _without_time(status: dict[str, Any]) -> dict[str, Any]:
    out = dict(status)
    out.pop("reconciledAt", None)
    return out


def _stale(status: dict[str, Any], interval: float) -> bool:
    stamp = status.get("reconciledAt")
    if not stamp:
        return True
    then = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    return (dt.datetime.now(dt.UTC) - then).total_seconds() > interval * 5


def _deployed_revision(status: dict[str, Any]) -> str:
    history = status.get("history") or []
    return str(history[-1]["revision"]) if history else ""


def _managers(live: Obj, paths: list[str]) -> list[str]:
    """Who changed ``paths``: the field managers owning them (or, failing that, the latest writers).

    A manager is named with its subresource when it wrote through one
    (``kubectl (scale subresource)``), since ``kubectl scale`` has no field
    manager name of its own.
    """
    entries = [e for e in (live.get("metadata") or {}).get("managedFields") or []
               if e.get("manager") not in (appmodel.FIELD_MANAGER, "")
               and e.get("subresource", "") != "status"]
    entries.sort(key=lambda e: e.get("time", ""), reverse=True)
    owners = [e for e in entries
              if any(_owns(e.get("fieldsV1") or {}, diffing.pointer_parts(p)) for p in paths)]
    if not owners:
        owners = [e for e in entries if e.get("operation") == "Update"][:2]
    names: list[str] = []
    for e in owners:
        name = str(e["manager"])
        if e.get("subresource"):
            name += f" ({e['subresource']} subresource)"
        if name not in names:
            names.append(name)
    return names


def _owns(fields: dict[str, Any], parts: list[str]) -> bool:
    """Does a fieldsV1 set own the field at ``parts`` (or a list item on the way to it)?"""
    node: Any = fields
    for part in parts:
        if not isinstance(node, dict):
            return False
        if f"f:{part}" in node:
            node = node[f"f:{part}"]
            continue
        # an item of an associative list: owned per item, good enough here
        return part.isdigit() and any(k.startswith(("k:", "i:", "v:")) for k in node)
    return True


def _crd_scopes(objects: list[Obj]) -> dict[tuple[str, str], bool]:
    out: dict[tuple[str, str], bool] = {}
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec") or {}
        for ver in spec.get("versions") or []:
            kind = spec.get("names", {}).get("kind", "")
            ident = (f"{spec.get('group')}/{ver.get('name')}", kind)
            out[ident] = spec.get("scope", "Namespaced") == "Namespaced"
    return out


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
    coming = set(_crd_scopes(desired))
    planned = {key_of(o) for o in sync_plan.apply}
    return {
        k: e for k, e in comparison.errors.items()
        if k in planned and not (isinstance(e, UnknownKind) and (e.api_version, e.kind) in coming)
    }


def _selected(resources: list[str], desired: list[Obj]) -> set[ObjectKey] | None:
    if not resources:
        return None
    wanted = set()
    for ref in resources:
        parts = ref.split("/")
        kind, name = parts[-2], parts[-1]
        for obj in desired:
            key = key_of(obj)
            if key.kind == kind and key.name == name and (len(parts) < 3 or parts[0] == key.group):
                wanted.add(key)
    return wanted


def _seconds(value: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    value = value.strip()
    if value and value[-1] in units:
        return float(value[:-1]) * units[value[-1]]
    return float(value or 0)
