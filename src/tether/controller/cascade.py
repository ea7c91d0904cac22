"""Finalizer-style cascade: deleting an Application deletes what it deployed first.

An Application that carries ``resources-finalizer.argocd.argoproj.io`` (or
Tether's ``resources-finalizer.tether.dev``) is only marked for deletion by
the API server; this step then deletes each object of its inventory that is
still its own (label, no controlling owner, uid precondition), as its
project's ServiceAccount, exactly as ``tether app delete --cascade`` does.
The foreground finalizers (the plain names) keep the Application until those
objects are gone, so an app whose resources are themselves Applications
with the finalizer cascades down the whole tree; ``/background`` ones are
released once the deletes are issued. Without a finalizer, deleting an
Application (by hand, or pruned from a root app's Git) leaves its resources,
as in Argo CD. Once the resources are gone, the app's PostDelete hooks run
(``postdelete``) and the finalizer goes only after they succeeded.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tether.adapters.kube import ApiError, Conflict, KubeClient, NotFound
from tether.controller import events
from tether.controller.deletion import app_inventory
from tether.controller.passes import Stop
from tether.controller.postdelete import PostDelete
from tether.controller.projects import ProjectSource, writer_for
from tether.controller.sync import delete_inventory
from tether.engine import application as appmodel
from tether.engine import children
from tether.engine.objects import Obj, meta
from tether.engine.plan import key_from_inventory

if TYPE_CHECKING:
    from tether.controller.clusters import Connection

log = logging.getLogger(__name__)
WAIT = 1.0  # between looks at objects still being deleted
RETRY = 10.0  # after the deletes were refused


async def finalize(
    app: Obj,
    kube: KubeClient,
    projects: ProjectSource,
    target: Connection | None = None,
    post_delete: PostDelete | None = None,
) -> float | None:
    """One look at an Application being deleted; returns when to look again, or None.
    ``target`` is the destination cluster's connection when it is not this one."""
    if not children.cascades(app):
        return None  # not ours to hold: Kubernetes deletes it (or waits for other finalizers)
    name = str(meta(app)["name"])
    try:
        writer = await writer_for(app, projects, kube, target)
        done = await delete_inventory(
            writer, name, [key_from_inventory(e) for e in app_inventory(app)]
        )
    except (Stop, ApiError) as exc:
        await events.record(
            kube,
            app,
            "CascadeFailed",
            f"cannot delete the resources of {name} before deleting it: {exc.message}",
            warning=True,
        )
        return RETRY
    if done.deleted:
        await events.record(
            kube,
            app,
            "ResourcesDeleted",
            f"deleting {len(done.deleted)} resources of {name}: "
            + ", ".join(f"{k.kind}/{k.name}" for k in done.deleted[:5])
            + (" ..." if len(done.deleted) > 5 else ""),
        )
        if children.waits_for_resources(app):
            return WAIT  # foreground: released once a look finds none of them left
    if post_delete is None:
        return await _release(app, kube)
    hooks = await post_delete.run(app, writer, kube, target)
    if hooks.wait is not None:
        return hooks.wait
    released = await _release(app, kube)
    if released is None:
        await hooks.clean(writer)  # after the release: a hook deleted first would run again
    return released


async def _release(app: Obj, kube: KubeClient) -> float | None:
    """Drop the cascade finalizers, keeping any other finalizer someone else holds."""
    finalizers = list(meta(app).get("finalizers") or [])
    try:
        await kube.merge_patch(
            appmodel.API_VERSION,
            appmodel.KIND,
            str(meta(app)["name"]),
            {
                "metadata": {
                    "finalizers": children.without_cascade(finalizers),
                    "resourceVersion": meta(app).get("resourceVersion"),
                }
            },
            str(meta(app).get("namespace") or ""),
        )
    except Conflict:
        return WAIT  # changed since read: look again at the newer copy
    except NotFound:
        return None
    except ApiError as exc:
        log.warning("could not release the finalizer of %s: %s", meta(app).get("name"), exc)
        return RETRY
    return None
