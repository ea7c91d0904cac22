"""Deletes a person asks for: one resource of an app, or an app and what it deployed.

Both act as the app's project ServiceAccount (as its syncs do), so a delete
reaches no further than the project's RBAC, and both delete only what is
this app's: the object (or the top of its owner chain) carries the app's
label, and the delete names the uid that was judged.
"""

from __future__ import annotations

from collections.abc import Callable

from tether.adapters.kube import Conflict, KubeClient
from tether.controller import events as app_events
from tether.controller.passes import Stop
from tether.controller.projects import ProjectSource, writer_for
from tether.controller.sync import Deletion, delete_inventory
from tether.engine import adoption, children, guard
from tether.engine import application as appmodel
from tether.engine.objects import Obj, ObjectKey, key_of, uid_of
from tether.engine.plan import key_from_inventory
from tether.engine.tree import ResourceTree


class AppNotFound(LookupError):
    """No Application with that name."""


class ActionRefused(ValueError):
    """The action is not allowed; the message says why and what to do instead."""


class Deletions:
    def __init__(self, kube: KubeClient, projects: ProjectSource, namespace: str) -> None:
        self.kube = kube
        self.projects = projects
        self.namespace = namespace

    async def _writer(self, app: Obj) -> KubeClient:
        try:
            return await writer_for(app, self.projects, self.kube)
        except Stop as stop:
            raise ActionRefused(stop.message) from None

    async def resource(
        self,
        app: Obj,
        tree: ResourceTree,
        kind: str,
        resource_name: str,
        *,
        force: bool,
        initiated_by: str,
        lookup: Callable[[ObjectKey], Obj | None],
    ) -> str:
        name = str(app["metadata"]["name"])
        target = next(
            (
                o
                for o in tree.objects.values()
                if (key_of(o).kind, key_of(o).name) == (kind, resource_name)
            ),
            None,
        )
        if target is None:
            raise AppNotFound(f"{kind} {resource_name} is not part of application {name}")
        managed = {n.key for n in tree.by_role("managed")}
        automated = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated") is not None
        paused = appmodel.PAUSE_ANNOTATION in (app["metadata"].get("annotations") or {})

        not_ours = adoption.delete_resource_refusal(
            target, root_of(tree, uid_of(target)), app_name=name
        )
        if not_ours is not None:
            raise ActionRefused(not_ours)  # --force does not make another's object ours
        refusal = guard.check_delete(target, managed, automated and not paused, lookup)
        if refusal is not None and not force:
            raise ActionRefused(refusal.reason)
        key = key_of(target)
        writer = await self._writer(app)
        try:
            await writer.delete(
                str(target["apiVersion"]), key.kind, key.name, key.namespace, uid=uid_of(target)
            )
        except Conflict:
            raise ActionRefused(
                f"{adoption.describe(key)} was replaced by another object of the same name "
                "since it was read; not deleted"
            ) from None
        await app_events.record(
            self.kube,
            app,
            "ResourceDeleted",
            f"{key.kind} {key.name} deleted by {initiated_by}" + (" (forced)" if refusal else ""),
            warning=bool(refusal),
        )
        return f"deleted {key.kind} {key.name}"

    async def app(self, app: Obj, *, cascade: bool) -> Deletion:
        """Delete the Application; with ``cascade`` also each object of its inventory
        that still carries its label, has no controlling owner, and is the object
        just read (uid precondition)."""
        name = str(app["metadata"]["name"])
        writer = await self._writer(app) if cascade else self.kube
        if not cascade and children.cascades(app):
            # The person's choice wins over the manifest's finalizer: keep the resources.
            await self.kube.merge_patch(
                appmodel.API_VERSION,
                appmodel.KIND,
                name,
                {"metadata": {"finalizers": children.without_cascade(app_finalizers(app))}},
                self.namespace,
            )
        await self.kube.delete(appmodel.API_VERSION, appmodel.KIND, name, self.namespace)
        if not cascade:
            return Deletion([], {})
        return await delete_inventory(
            writer, name, [key_from_inventory(e) for e in app_inventory(app)]
        )


def app_finalizers(app: Obj) -> list[str]:
    return list(app["metadata"].get("finalizers") or [])


def app_inventory(app: Obj) -> list[str]:
    return list((app.get("status") or {}).get("inventory") or [])


def root_of(tree: ResourceTree, node_id: str) -> Obj | None:
    """The topmost object above ``node_id`` in the tree (itself when it is on top)."""
    nodes = {n.id: n for n in tree.nodes}
    seen = {node_id}
    while (node := nodes.get(node_id)) is not None and node.owner and node.owner not in seen:
        node_id = node.owner
        seen.add(node_id)
    return tree.objects.get(node_id)
