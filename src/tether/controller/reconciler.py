"""Reconcile one Application: source -> render -> compare -> sync -> health -> status.

Flux-style steps as plain async functions over one ``Pass`` (the working
state of a reconcile). Each step either fills the pass or stops it with a
condition; a stopped pass never applies or prunes anything, so a broken
commit leaves the cluster in its last good state.
"""

from __future__ import annotations

import copy
import logging
import random
import time

import httpx

from tether.adapters import git
from tether.adapters.kube import KubeClient, UnknownKind
from tether.adapters.render import RenderError
from tether.controller import cascade, clusters, events, exactly_once, operation
from tether.controller import children as children_step
from tether.controller import dependencies as dependency_step
from tether.controller import hooks as hook_step
from tether.controller import projects as project_step
from tether.controller import status as st
from tether.controller.clusters import ClusterPool
from tether.controller.compare import DryRunCache, compare
from tether.controller.destinations import namespace_key
from tether.controller.health_rules import HealthRuleSource
from tether.controller.live_cache import CHILD_KINDS, LiveCache
from tether.controller.passes import AppMemory, Pass, Settings, Stop
from tether.controller.postdelete import PostDelete
from tether.controller.projects import ProjectSource, admit_app, admit_objects
from tether.controller.repo_secrets import RepositorySecrets
from tether.controller.sources.gate import RepositoryBusy
from tether.controller.sources.step import Sources
from tether.controller.sync_step import Syncer
from tether.engine import application as appmodel
from tether.engine import children, objects, plan, sync_options
from tether.engine import diff as diffing
from tether.engine import hooks as hookmodel
from tether.engine.health import HealthRules, HealthStatus
from tether.engine.objects import Obj, key_of, version_of
from tether.engine.tree import build_tree

log = logging.getLogger(__name__)
NAMESPACE_KIND = ("v1", "Namespace")

__all__ = ["AppMemory", "Pass", "Reconciler", "Settings", "Stop"]


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
        self.repo_secrets = RepositorySecrets(kube, settings.app_namespace)
        # Chart repositories read TLS and OCI options from the same Secrets.
        sources.charts.attach(kube, self.repo_secrets.current)
        self.health_rules = HealthRuleSource(kube, settings.app_namespace)
        self.syncer = Syncer(kube=kube, live=live, rules=self.health_rules.rules)
        # Other clusters' clients, live caches and syncers, made on first use.
        self.clusters = ClusterPool(kube, live, settings.app_namespace, live.on_change)
        self.projects = ProjectSource(kube, settings.app_namespace)
        self.post_delete = PostDelete(self._post_delete_hooks, live, self.health_rules.rules)

    @property
    def sync_count(self) -> int:
        return self.syncer.sync_count

    def poll_delay(self) -> float:
        spread = self.settings.poll_interval * self.settings.jitter
        return self.settings.poll_interval + random.uniform(-spread, spread)

    # -- the pass -----------------------------------------------------------
    async def reconcile(self, app: Obj, *, since: float | None = None) -> float | None:
        """Reconcile ``app``; returns when to look again (seconds), or None.

        ``since``: when something was seen that Git may answer anew (see Sources.resolve).
        """
        if children.deleting(app):
            try:
                target = await self.clusters.for_app(app)
            except clusters.Unreachable:
                return clusters.RETRY_AFTER  # deleted there once it answers, never here
            return await cascade.finalize(app, self.kube, self.projects, target, self.post_delete)
        memory = self.memory.setdefault(str(app["metadata"]["name"]), AppMemory())
        latest = memory.latest
        app = st.newest(app, latest)
        if latest is not None and app is not latest:
            memory.latest = None  # the cache has caught up with our own last write
        uid = str(app["metadata"].get("uid", ""))
        unwritten = memory.unwritten if memory.unwritten and memory.unwritten[0] == uid else None
        p = Pass(
            app=_own_copy(app),
            status=copy.deepcopy(unwritten[1] if unwritten else app.get("status") or {}),
            operation=app.get("operation"),
        )
        if (
            unwritten and unwritten[2] is not None and unwritten[2] == p.operation
        ) or exactly_once.answered(p.status, p.app):
            # Done, and recorded in that status (kept here, or written by a controller
            # killed before it cleared the request): this pass only stores it and clears
            # the operation, before any later sync could replace its result unseen.
            p.app["_clear_operation"] = True
            await exactly_once.record(self.kube, p, memory, self.settings.poll_interval)
            return 1.0
        try:
            self._parse(p)
            await self.clusters.route(p)
            await admit_app(p, self.projects, self._kube(p))
            running = operation.running_revision(p.status)
            try:
                if since is None and p.operation is not None and not running:
                    since = time.monotonic()
                await self._source(p, since=since, requeue_when_busy=True)
            except RepositoryBusy as busy:
                # Another app's Git call on the repository is taking long (maybe hanging
                # to the timeout): look again soon, holding no worker, and say nothing yet.
                return busy.retry_after
            children_step.admit_children(p, self.live, self.settings.app_namespace)
            admit_objects(p)
            hook_step.split(p)
            await self._compare(p)
            if dependency_step.ready(
                p, self.live, self.settings.app_namespace, self.syncer.finish_operation
            ) and self._inside_window(p):
                await self._syncer(p).sync(p, memory)
            for ctype in (
                "ComparisonError",
                "InvalidSpec",
                project_step.CONDITION,
                children_step.CONDITION,
                clusters.CONDITION,
            ):
                st.set_condition(p.status, ctype, None)
        except (Stop, httpx.TransportError) as caught:
            stop = self.clusters.as_stop(p, caught)
            st.set_condition(p.status, stop.ctype, stop.message)
            if p.status.get("sync", {}).get("status") is None:
                p.status["sync"] = {"status": "Unknown", "revision": p.sha}
            if p.operation is not None or operation.running(p.status) is not None:
                # A sync in progress cannot go on without its render: it ends here.
                self.syncer.finish_operation(p, "Error", stop.message)
            if stop.ctype in ("ComparisonError", project_step.CONDITION):
                await events.record(self.kube, app, "ComparisonError", stop.message, warning=True)
        self._health(p, memory, await self.health_rules.rules())
        clusters.unknown_while_unreachable(p)
        self._pause_condition(p)
        p.status["reconciledAt"] = events.now_iso()
        p.status["observedGeneration"] = app["metadata"].get("generation", 0)
        await exactly_once.record(self.kube, p, memory, self.settings.poll_interval)
        if p.requeue_after is None:
            p.requeue_after = self.poll_delay()
        return p.requeue_after

    async def preview(self, app: Obj) -> Pass:
        """Render and compare without syncing or writing (diff, explain); raises Stop."""
        p = Pass(app=_own_copy(app), status=copy.deepcopy(app.get("status") or {}))
        self._parse(p)
        await self.clusters.route(p)
        await admit_app(p, self.projects, self._kube(p))
        await self._source(p, since=time.monotonic())
        children_step.admit_children(p, self.live, self.settings.app_namespace)
        admit_objects(p)
        hook_step.split(p)
        await self._compare(p)
        return p

    async def _post_delete_hooks(self, app: Obj) -> list[Obj]:
        """The PostDelete hooks of an app being deleted, rendered at the revision it
        deployed (cached by commit); none when it never deployed. Raises Stop."""
        status = app.get("status") or {}
        revision = (status.get("sync") or {}).get("revision")
        if not revision:
            return []
        p = Pass(app=_own_copy(app), status=copy.deepcopy(status))
        p.operation = {"sync": {"revision": revision}}
        self._parse(p)
        await self.clusters.route(p)
        await self._source(p, since=None)
        hook_step.split(p)
        return hookmodel.of_type(p.hooks, hookmodel.POST_DELETE)

    # -- the destination cluster (controller.clusters) --------------------------
    def _kube(self, p: Pass) -> KubeClient:
        return p.cluster.kube if p.cluster is not None else self.kube

    def _live(self, p: Pass) -> LiveCache:
        return p.cluster.live if p.cluster is not None else self.live

    def _syncer(self, p: Pass) -> Syncer:
        conn = p.cluster
        if conn is None or conn.in_cluster:
            return self.syncer
        if conn.syncer is None:
            conn.syncer = Syncer(
                kube=conn.kube, live=conn.live, rules=self.health_rules.rules, home=self.kube
            )
        return conn.syncer

    def _inside_window(self, p: Pass) -> bool:
        """Sync windows of the project: an automated sync waits (shown as the
        SyncWindow condition); a manual one fails unless the window allows it."""
        verdict = project_step.window(p)
        st.set_condition(
            p.status,
            project_step.WINDOW_CONDITION,
            f"automated sync blocked: {verdict.message}" if not verdict.automated else None,
        )
        if p.operation is None:
            return verdict.automated
        if not verdict.manual:
            self.syncer.finish_operation(
                p, "Error", f"sync refused: {verdict.message} and it does not allow manual syncs"
            )
            return False
        return True

    def _parse(self, p: Pass) -> None:
        try:
            p.spec = appmodel.parse_spec(p.app.get("spec") or {})
        except appmodel.SpecError as exc:
            raise Stop("InvalidSpec", f"Application {p.name}: {exc}") from None

    async def _source(
        self, p: Pass, *, since: float | None, requeue_when_busy: bool = False
    ) -> None:
        assert p.spec is not None
        revision = ((p.operation or {}).get("sync") or {}).get("revision") or None
        # A running operation finishes at the revision it started with.
        revision = operation.running_revision(p.status) or revision
        creds = await self.repo_secrets.credentials(p.spec.source.repo_url, p.spec.project)
        try:
            p.sha = await self.sources.resolve(p.spec, revision, creds, since=since)
            result = await self.sources.render(p.name, p.spec, p.sha, creds, app_name=p.name)
        except RenderError as exc:
            raise Stop("ComparisonError", f"render failed at {p.sha[:12]}: {exc}") from None
        except git.GitError as exc:
            if requeue_when_busy and isinstance(exc, RepositoryBusy):
                raise
            raise Stop("ComparisonError", f"cannot read the source: {exc}") from None
        if not p.status.get("revisionMessage") or p.status.get("sync", {}).get("revision") != p.sha:
            p.status["revisionMessage"] = await self.sources.commit_subject(
                p.spec.source.repo_url, p.sha, creds
            )
        try:
            rendered = children.convert_all(result.objects, self.settings.app_namespace)
        except children.ChildError as exc:
            raise Stop("ComparisonError", str(exc)) from None
        namespaced: dict[tuple[str, str], bool] = {}
        crd_scopes = plan.crd_scopes(rendered)
        for obj in rendered:
            ident = (str(obj.get("apiVersion")), str(obj.get("kind")))
            if ident in namespaced:
                continue
            try:
                namespaced[ident] = (await self._kube(p).resource_for(*ident)).namespaced
            except UnknownKind:
                namespaced[ident] = crd_scopes.get(ident, True)
        try:
            p.desired = children.place(
                rendered,
                destination=p.spec.destination.namespace,
                app_namespace=self.settings.app_namespace,
                namespaced=namespaced,
                app_label=(appmodel.INSTANCE_LABEL, p.name),
            )
        except plan.PlanError as exc:
            raise Stop("ComparisonError", str(exc)) from None

    async def _compare(self, p: Pass) -> None:
        assert p.spec is not None
        namespaces = {key_of(o).namespace for o in p.desired} - {""}
        kinds = {(str(o["apiVersion"]), str(o["kind"])) for o in p.desired} | set(CHILD_KINDS)
        cache = self._live(p)
        await cache.ensure_kinds(kinds | ({NAMESPACE_KIND} if namespaces else set()))
        live_of = {key_of(o): cache.get(key_of(o)) for o in p.desired}
        p.live_of = live_of
        rules = [
            diffing.IgnoreRule(
                r.group,
                r.kind,
                r.name,
                r.namespace,
                tuple(r.json_pointers),
                tuple(r.managed_fields_managers),
            )
            for r in p.spec.ignore_differences
        ]
        for key, live in list(live_of.items()):
            if live is not None and any(
                r.managed_fields_managers and r.matches(key) for r in rules
            ):
                live_of[key] = await self._kube(p).get_or_none(
                    str(live["apiVersion"]), key.kind, key.name, key.namespace
                )
        p.comparison = await compare(
            p.writer or self._kube(p),
            p.desired,
            live_of,
            rules,
            p.cluster.dry_runs if p.cluster and p.cluster.dry_runs else self.dry_runs,
            options=sync_options.for_spec(p.spec),
            owner=p.name,
            absent_namespaces={
                n for n in namespaces if cache.absent(NAMESPACE_KIND[0], namespace_key(n))
            },
        )
        desired_keys = {key_of(o) for o in p.desired}
        p.extras = [
            k
            for k in (plan.key_from_inventory(e) for e in p.status.get("inventory") or [])
            if k not in desired_keys and cache.get(k) is not None
        ]
        status = "OutOfSync" if (p.comparison.out_of_sync or p.extras) else "Synced"
        p.status["sync"] = {"status": status, "revision": p.sha}
        if status == "Synced" and not p.comparison.errors:
            # Every desired object is live as Git wants it, with this app's label: it is
            # the app's, recorded or not (a controller killed between an apply and its
            # status write left it out), and must be in the inventory to be pruned later.
            held = set(p.status.get("inventory") or [])
            if not {plan.inventory_id(k) for k in desired_keys} <= held:
                held |= {plan.inventory_id(k) for k in desired_keys}
                p.status["inventory"] = sorted(held)

    # -- syncing -------------------------------------------------------------
    def _health(self, p: Pass, memory: AppMemory, rules: HealthRules | None) -> None:
        if p.spec is None:
            return
        if p.desired:
            memory.desired = [_stub(o) for o in p.desired]  # keys are all a later tree needs
        desired = p.desired or memory.desired
        ns = p.spec.destination.namespace
        cache = self._live(p)
        scope = cache.in_namespace(ns) + [
            o
            for o in (cache.get(key_of(d)) for d in desired)
            if o is not None and key_of(o).namespace != ns  # cluster-scoped, child apps
        ]
        p.tree = build_tree(desired, scope, app_name=p.name, namespace=ns, rules=rules)
        st.set_condition(
            p.status,
            "HealthRuleError",
            "; ".join(self.health_rules.errors.values()) or None,
        )
        health, message = p.tree.health()
        if not desired and st.condition(p.status, "ComparisonError"):
            # Nothing rendered yet is not "Healthy, no resources".
            health, message = HealthStatus.UNKNOWN, "nothing rendered: see the ComparisonError"
        p.status["health"] = {"status": str(health), "message": message}
        versions = {key_of(o): version_of(str(o.get("apiVersion"))) for o in desired}
        errors = dict(memory.sync_errors)
        if p.comparison is not None:
            errors |= {k: e.message for k, e in p.comparison.errors.items()}
        p.status["resources"] = st.resources(
            [key_of(o) for o in desired],
            versions,
            p.comparison.diffs if p.comparison else {},
            errors,
            p.tree,
            p.extras,
        )
        if not p.desired:
            return  # a stopped pass keeps the last summary
        p.status["summary"] = {
            "images": sorted(
                {
                    c.get("image", "")
                    for o in desired
                    for c in (((o.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
                        "containers", []
                    )
                }
            )
        }

    def _pause_condition(self, p: Pass) -> None:
        reason = objects.annotations(p.app).get(appmodel.PAUSE_ANNOTATION)
        p.status["autoSyncPaused"] = {"paused": bool(reason), "reason": reason or ""}
        st.set_condition(
            p.status,
            "AutoSyncPaused",
            f"auto-sync is paused ({reason}); run `tether app resume {p.name}` to follow Git again"
            if reason
            else None,
        )


def _own_copy(app: Obj) -> Obj:
    """The app for a pass to change, sharing its old status: a pass writes ``p.status``
    and only compares against the old one, so copying it as well would be wasted."""
    own = copy.deepcopy({k: v for k, v in app.items() if k != "status"})
    if "status" in app:
        own["status"] = app["status"]
    return own


def _stub(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace", "")},
    }
