"""What the surfaces (CLI, HTTP API, UI) may ask of Tether, in one place.

Every read and every action goes through ``AppService`` so the CLI, the API
and the UI show the same truth and record actions the same way (a
Kubernetes Event naming who did it). Inside the controller process reads
come from its warm live cache; the CLI builds a short-lived cache instead.
Actions are requests written onto the Application (an ``operation``, an
annotation) that the controller carries out, so they survive a restart.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

from tether.adapters.kube import ApiError, KubeClient
from tether.controller import clusters as cluster_pool
from tether.controller import events as app_events
from tether.controller.deletion import ActionRefused, AppNotFound, Deletions
from tether.controller.live_cache import CHILD_KINDS, LiveCache, selector_for
from tether.controller.reconciler import Reconciler, Stop
from tether.controller.registry.facts import facts_from
from tether.controller.runtime import Controller
from tether.controller.sync import Deletion
from tether.engine import application as appmodel
from tether.engine import diagnosis
from tether.engine.diff import ResourceDiff, mask_secret, normalise
from tether.engine.health import HealthStatus
from tether.engine.objects import Obj, ObjectKey, key_of
from tether.engine.tree import ResourceTree, build_tree

__all__ = ["ActionRefused", "AppNotFound", "AppService", "SyncRequest"]


@dataclass(frozen=True)
class SyncRequest:
    revision: str | None = None
    prune: bool | None = None
    dry_run: bool = False
    resources: tuple[str, ...] = ()  # "Kind/name" or "group/Kind/name"


class AppService:
    def __init__(
        self,
        kube: KubeClient,
        reconciler: Reconciler,
        *,
        controller: Controller | None = None,
        namespace: str = "tether",
        wait_timeout: float = 120.0,
    ) -> None:
        self.kube = kube
        self.reconciler = reconciler
        self.controller = controller
        self.namespace = namespace
        self.wait_timeout = wait_timeout
        self._queues: dict[asyncio.Queue[str], Any] = {}
        self.deletions = Deletions(kube, reconciler.projects, namespace)

    @property
    def live(self) -> LiveCache:
        return self.reconciler.live

    # -- reads ---------------------------------------------------------------
    async def list_apps(self) -> list[Obj]:
        if self.controller is not None:
            return sorted(self.controller.apps(), key=lambda a: a["metadata"]["name"])
        api = await self.kube.resource_for(appmodel.API_VERSION, appmodel.KIND)
        items, _ = await self.kube.list(api, self.namespace)
        return sorted(items, key=lambda a: a["metadata"]["name"])

    async def clusters(self) -> list[dict[str, object]]:
        """Every cluster apps may deploy to, with reachability, version and app count."""
        return await cluster_pool.overview(self.kube, self.namespace, await self.list_apps())

    async def get_app(self, name: str) -> Obj:
        app = self.controller.app(name) if self.controller is not None else None
        if app is None:  # no controller, or its cache has not seen a just-created app yet
            app = await self.kube.get_or_none(
                appmodel.API_VERSION, appmodel.KIND, name, self.namespace
            )
        if app is None:
            raise AppNotFound(f"application {name!r} not found in namespace {self.namespace}")
        return app

    async def _tree(self, app: Obj, events: list[Obj] | None = None) -> ResourceTree:
        status = app.get("status") or {}
        ns = ((app.get("spec") or {}).get("destination") or {}).get("namespace", "")
        desired = [
            {
                "apiVersion": (
                    f"{r['group']}/{r['version']}" if r.get("group") else r.get("version", "v1")
                ),
                "kind": r["kind"],
                "metadata": {"name": r["name"], "namespace": r.get("namespace", "")},
            }
            for r in status.get("resources") or []
            if not r.get("requiresPruning")
        ]
        kinds = {(d["apiVersion"], d["kind"]) for d in desired} | set(CHILD_KINDS)
        await self.live.ensure_kinds(kinds)
        scope = self.live.in_namespace(ns) + [
            o
            for o in (self.live.get(key_of(d)) for d in desired)
            if o is not None and key_of(o).namespace != ns  # cluster-scoped, child apps
        ]
        scope += await self._unlabelled(ns, kinds, {key_of(o) for o in scope})
        return build_tree(
            desired,
            scope,
            app_name=app["metadata"]["name"],
            namespace=ns,
            events=events or (),
            rules=await self.reconciler.health_rules.rules(),
        )

    async def _unlabelled(
        self, namespace: str, kinds: set[tuple[str, str]], known: set[ObjectKey]
    ) -> list[Obj]:
        """Objects of the app's kinds in its namespace that the cache skips (no app label):
        the candidates for orphans."""
        found: list[Obj] = []
        for api_version, kind in sorted(kinds):
            try:
                api = await self.kube.resource_for(api_version, kind)
            except ApiError:
                continue
            if not api.namespaced or selector_for(api) is None:
                continue
            try:
                items, _ = await self.kube.list(api, namespace)
            except ApiError:
                continue
            found += [o for o in items if key_of(o) not in known]
        return found

    async def tree(self, name: str) -> dict[str, Any]:
        tree = await self._tree(await self.get_app(name))
        return tree.to_json()

    async def diff(self, name: str) -> list[dict[str, Any]]:
        app = await self.get_app(name)
        try:
            p = await self.reconciler.preview(app)
        except Stop as stop:
            raise ActionRefused(stop.message) from None
        assert p.comparison is not None
        out = []
        for key, d in sorted(p.comparison.diffs.items()):
            text = d.text() if d.status != "Synced" else ""
            out.append(_key_json(key) | {"status": d.status, "diff": text})
        for key, err in sorted(p.comparison.errors.items()):
            out.append(_key_json(key) | {"status": "Error", "diff": "", "message": err.message})
        for key in p.extras:
            live = self.live.get(key)
            text = ""
            if live is not None:
                text = ResourceDiff(key, "OutOfSync", None, normalise(live)).text()
            out.append(_key_json(key) | {"status": "RequiresPruning", "diff": text})
        return out

    async def history(self, name: str) -> list[dict[str, Any]]:
        app = await self.get_app(name)
        return list((app.get("status") or {}).get("history") or [])

    async def events(self, name: str) -> list[dict[str, Any]]:
        app = await self.get_app(name)
        ns = ((app.get("spec") or {}).get("destination") or {}).get("namespace", "")
        found = await self._events(ns) + [
            e
            for e in await self._events(self.namespace)
            if (e.get("involvedObject") or {}).get("name") == name
        ]
        return [_event_json(e) for e in sorted(found, key=_event_time)]

    async def _events(self, namespace: str) -> list[Obj]:
        try:
            api = await self.kube.resource_for("v1", "Event")
            items, _ = await self.kube.list(api, namespace)
        except ApiError:
            return []
        return items

    async def explain(self, name: str) -> dict[str, Any]:
        app = await self.get_app(name)
        ns = ((app.get("spec") or {}).get("destination") or {}).get("namespace", "")
        events = await self._events(ns)
        tree = await self._tree(app, events)
        health, _message = tree.health()
        status = app.get("status") or {}
        errors = [
            diagnosis.SyncError(
                ObjectKey(r.get("group", ""), r["kind"], r.get("namespace", ""), r["name"]),
                r["message"],
            )
            for r in status.get("resources") or []
            if r.get("message")
        ]
        for cond in status.get("conditions") or []:
            if cond.get("type") in ("ComparisonError", "InvalidSpec", "ProjectDenied"):
                text = f"{cond['type']}: {cond.get('message', '')}"
                step = (
                    "change the app or the commit to stay inside its project, or ask the "
                    "project's owner to allow it (nothing was applied)"
                    if cond.get("type") == "ProjectDenied"
                    else "fix the source in Git (the cluster keeps its last good state)"
                )
                return {"status": "Unknown", "text": text, "chain": [], "nextStep": step}
        if errors and str(health) == "Healthy":
            health = HealthStatus.DEGRADED
        result = diagnosis.diagnose(
            name,
            health,
            tree,
            now=dt.datetime.now(dt.UTC),
            events=events,
            sync_errors=errors,
            credentials=await self._credential_facts(),
            pull_secrets=await self._pull_secrets(ns),
        )
        data = result.to_json()
        data["text"] = result.to_text()
        return data

    async def _pull_secrets(self, namespace: str) -> list[diagnosis.PullSecretInfo] | None:
        try:
            api = await self.kube.resource_for("v1", "Secret")
            items, _ = await self.kube.list(api, namespace)
        except ApiError:
            return None
        out = []
        for secret in items:
            if secret.get("type") != "kubernetes.io/dockerconfigjson":
                continue
            try:
                raw = base64.b64decode((secret.get("data") or {}).get(".dockerconfigjson", ""))
                hosts = tuple(sorted((json.loads(raw).get("auths") or {}).keys()))
            except ValueError:
                hosts = ()
            out.append(diagnosis.PullSecretInfo(secret["metadata"]["name"], namespace, hosts))
        return out

    async def _credential_facts(self) -> list[diagnosis.CredentialFact]:
        try:
            api = await self.kube.resource_for("tether.dev/v1alpha1", "RegistryCredential")
            items, _ = await self.kube.list(api)
        except ApiError:
            return []
        return facts_from(items)

    async def resource(
        self, name: str, group: str, kind: str, namespace: str, resource_name: str
    ) -> dict[str, Any]:
        app = await self.get_app(name)
        key = ObjectKey(group, kind, namespace, resource_name)
        tree = await self._tree(app)
        obj = next((o for o in tree.objects.values() if key_of(o) == key), None)
        if obj is None:
            raise AppNotFound(f"{kind} {resource_name} is not part of application {name}")
        events = [
            _event_json(e)
            for e in await self._events(namespace)
            if (e.get("involvedObject") or {}).get("name") == resource_name
            and (e.get("involvedObject") or {}).get("kind") == kind
        ]
        text = ""
        if (app.get("status") or {}).get("sync", {}).get("status") == "OutOfSync":
            try:
                diffs = await self.diff(name)
                text = next(
                    (d["diff"] for d in diffs if (d["kind"], d["name"]) == (kind, resource_name)),
                    "",
                )
            except ActionRefused:
                text = ""
        return {"manifest": mask_secret(obj), "events": events, "diff": text}

    # -- actions -------------------------------------------------------------
    async def sync(self, name: str, request: SyncRequest, *, initiated_by: str) -> dict[str, Any]:
        await self.get_app(name)
        op: dict[str, Any] = {"dryRun": request.dry_run}
        if request.revision:
            op["revision"] = request.revision
        if request.prune is not None:
            op["prune"] = request.prune
        if request.resources:
            op["resources"] = list(request.resources)
        return await self._operate(
            name, {"sync": op}, initiated_by, "SyncRequested", f"sync requested by {initiated_by}"
        )

    async def rollback(self, name: str, history_id: int, *, initiated_by: str) -> dict[str, Any]:
        app = await self.get_app(name)
        history = (app.get("status") or {}).get("history") or []
        entry = next((h for h in history if int(h.get("id", -1)) == history_id), None)
        if entry is None:
            ids = ", ".join(str(h.get("id")) for h in history) or "none"
            raise ActionRefused(f"history entry {history_id} not found (known: {ids})")
        reason = f"rolled back to history {history_id} ({entry['revision'][:12]}) by {initiated_by}"
        await self.kube.merge_patch(
            appmodel.API_VERSION,
            appmodel.KIND,
            name,
            {"metadata": {"annotations": {appmodel.PAUSE_ANNOTATION: reason}}},
            self.namespace,
        )
        return await self._operate(
            name,
            {"sync": {"revision": entry["revision"]}, "rollback": history_id},
            initiated_by,
            "RollbackRequested",
            reason,
        )

    async def resume(self, name: str, *, initiated_by: str) -> None:
        app = await self.get_app(name)
        await self.kube.merge_patch(
            appmodel.API_VERSION,
            appmodel.KIND,
            name,
            {
                "metadata": {
                    "annotations": {
                        appmodel.PAUSE_ANNOTATION: None,
                        appmodel.REFRESH_ANNOTATION: app_events.now_iso(),
                    }
                }
            },
            self.namespace,
        )
        await app_events.record(
            self.kube, app, "AutoSyncResumed", f"auto-sync resumed by {initiated_by}"
        )

    async def refresh(self, name: str) -> None:
        await self.get_app(name)
        if self.controller is not None and self.controller.owns(name):
            self.controller.enqueue(name, since=time.monotonic())
            return
        await self.kube.merge_patch(
            appmodel.API_VERSION,
            appmodel.KIND,
            name,
            {"metadata": {"annotations": {appmodel.REFRESH_ANNOTATION: str(time.time())}}},
            self.namespace,
        )

    async def delete_resource(
        self, name: str, kind: str, resource_name: str, *, force: bool, initiated_by: str
    ) -> str:
        app = await self.get_app(name)
        return await self.deletions.resource(
            app,
            await self._tree(app),
            kind,
            resource_name,
            force=force,
            initiated_by=initiated_by,
            lookup=self.live.get,
        )

    async def delete_app(self, name: str, *, cascade: bool) -> Deletion:
        """Delete the Application; with ``cascade`` also what it deployed (see deletion)."""
        return await self.deletions.app(await self.get_app(name), cascade=cascade)

    async def _operate(
        self, name: str, operation: dict[str, Any], initiated_by: str, reason: str, message: str
    ) -> dict[str, Any]:
        started = app_events.now_iso()
        operation["initiatedBy"] = {"username": initiated_by}
        app = await self.kube.merge_patch(
            appmodel.API_VERSION, appmodel.KIND, name, {"operation": operation}, self.namespace
        )
        await app_events.record(self.kube, app, reason, message)
        if self.controller is not None:
            self.controller.enqueue(name, since=time.monotonic())
        deadline = time.monotonic() + self.wait_timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            app = await self.kube.get(appmodel.API_VERSION, appmodel.KIND, name, self.namespace)
            state = (app.get("status") or {}).get("operationState") or {}
            if app.get("operation") is None and state.get("finishedAt", "") >= started:
                return dict(state)
            await asyncio.sleep(0.2)
        if state.get("phase") == "Running" and state.get("startedAt", "") >= started:
            # A sync with waves or hooks goes on in the controller after we stop waiting.
            return dict(state)
        raise ActionRefused(
            f"the operation on {name} was requested but did not finish within "
            f"{self.wait_timeout:.0f}s: is `tether controller` running?"
        )

    # -- live updates ----------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=10000)

        def push(name: str) -> None:
            if not queue.full():
                queue.put_nowait(name)

        self._queues[queue] = push
        if self.controller is not None:
            self.controller.add_listener(push)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        push = self._queues.pop(queue, None)
        if push is not None and self.controller is not None:
            self.controller.remove_listener(push)


def _key_json(key: ObjectKey) -> dict[str, Any]:
    return {"group": key.group, "kind": key.kind, "namespace": key.namespace, "name": key.name}


def _event_time(event: Obj) -> str:
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


def _event_json(event: Obj) -> dict[str, Any]:
    involved = event.get("involvedObject") or {}
    return {
        "type": event.get("type", ""),
        "reason": event.get("reason", ""),
        "message": event.get("message", ""),
        "object": f"{involved.get('kind', '')}/{involved.get('name', '')}",
        "count": event.get("count", 1),
        "lastTimestamp": _event_time(event),
    }
