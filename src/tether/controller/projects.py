"""The project step of a reconcile: which project holds the app, and what it allows.

Projects are read from the app namespace (listed at most every few seconds,
so a thousand apps cost one list, and a changed project takes effect within
that time). The step runs before Git is read, so a forbidden repository is
never contacted, and again over the rendered objects before anything is
compared or applied; a denial stops the pass with a ``ProjectDenied``
condition that names the object and the rule.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import TYPE_CHECKING

from tether.adapters.kube import ApiError, KubeClient
from tether.controller.passes import Pass, Stop
from tether.engine import application as appmodel
from tether.engine import projects
from tether.engine.objects import Obj, key_of

if TYPE_CHECKING:
    from tether.controller.clusters import Connection

PROJECTS_TTL = 5.0
CONDITION = "ProjectDenied"
WINDOW_CONDITION = "SyncWindow"


class ProjectSource:
    """Projects of one app namespace, listed at most every ``ttl`` seconds."""

    def __init__(self, kube: KubeClient, namespace: str, ttl: float = PROJECTS_TTL) -> None:
        self.kube = kube
        self.namespace = namespace
        self.ttl = ttl
        self._listed: tuple[float, dict[str, Obj]] = (-1e9, {})
        # Workers finding the list stale at once wait for one request, not one each.
        self._listing = asyncio.Lock()

    def forget(self) -> None:
        self._listed = (-1e9, {})

    async def _all(self) -> dict[str, Obj]:
        if time.monotonic() - self._listed[0] <= self.ttl:
            return self._listed[1]
        async with self._listing:
            now = time.monotonic()
            if now - self._listed[0] > self.ttl:
                try:
                    api = await self.kube.resource_for(projects.API_VERSION, projects.KIND)
                    items, _ = await self.kube.list(api, self.namespace)
                except ApiError:
                    return self._listed[1]  # keep the last answer while the API is away
                self._listed = (now, {str(o["metadata"]["name"]): o for o in items})
        return self._listed[1]

    async def get(self, name: str) -> projects.Project:
        """The project, or ``projects.ProjectError`` naming why it cannot be used."""
        found = (await self._all()).get(name)
        if found is None:
            if name == projects.DEFAULT:
                return projects.parse(
                    projects.new_project(
                        name, self.namespace, projects.default_spec(self.namespace)
                    )
                )
            raise projects.ProjectError(
                f"project {name!r} does not exist in namespace {self.namespace} "
                f"(create it with `tether project create {name} ...`)"
            )
        return projects.parse(found)


async def admit_app(p: Pass, source: ProjectSource, kube: KubeClient) -> None:
    """Before Git is read: the project exists, allows the repository and the
    destination; choose who writes for this app."""
    assert p.spec is not None
    try:
        project = await source.get(p.spec.project)
    except projects.ProjectError as exc:
        raise Stop(CONDITION, f"Application {p.name}: {exc}") from None
    problems = projects.check_app(project, p.spec, source.namespace, p.cluster_ident)
    if problems:
        raise Stop(CONDITION, f"Application {p.name}: " + "; ".join(problems))
    p.project = project
    server = p.cluster_ident[0] if p.cluster_ident else None
    p.writer = _writer(project, p.spec, kube, server)


def _writer(
    project: projects.Project,
    spec: appmodel.ApplicationSpec,
    kube: KubeClient,
    server: str | None = None,
) -> KubeClient | None:
    """An impersonating client (of ``kube``, the destination cluster's) for the
    project's ServiceAccount of the app's destination, or None when the project
    names none (the controller writes)."""
    dest = spec.destination
    user = projects.service_account(project, server or dest.server, dest.namespace)
    return kube.impersonating(user) if user else None


def admit_objects(p: Pass) -> None:
    """After rendering: every object is of a kind the project allows."""
    assert p.project is not None
    problems = projects.check_objects(p.project, (key_of(o) for o in p.desired))
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise Stop(
            CONDITION,
            f"nothing applied: {'; '.join(problems[:5])}{more}",
        )


def window(p: Pass, now: dt.datetime | None = None) -> projects.WindowVerdict:
    """Whether syncs may run now; the verdict is also written as a condition."""
    assert p.spec is not None and p.project is not None
    dest = p.spec.destination
    server = p.cluster_ident[0] if p.cluster_ident else dest.server
    return projects.sync_windows(
        p.project, p.name, dest.namespace, server, now or dt.datetime.now(dt.UTC)
    )


async def writer_for(
    app: Obj, source: ProjectSource, kube: KubeClient, target: Connection | None = None
) -> KubeClient:
    """The client that acts for ``app`` outside a reconcile (deletes asked for by a
    person): the project's ServiceAccount for the destination, as syncs do.
    ``kube`` is the home cluster's client; an app deployed to another cluster
    needs its ``target`` connection, so nothing is ever deleted in the wrong one."""
    try:
        spec = appmodel.parse_spec(app.get("spec") or {})
        project = await source.get(spec.project)
    except (appmodel.SpecError, projects.ProjectError) as exc:
        raise Stop(CONDITION, str(exc)) from None
    if target is None and spec.destination.server != appmodel.IN_CLUSTER:
        where = spec.destination.name or spec.destination.server
        raise Stop(
            CONDITION,
            f"Application {meta_name(app)} deploys to cluster {where}: its resources are"
            " deleted by the controller (delete the app with its resources finalizer)",
        )
    if target is not None:
        kube = target.kube
        return _writer(project, spec, kube, target.cluster.server) or kube
    return _writer(project, spec, kube) or kube


def meta_name(app: Obj) -> str:
    return str((app.get("metadata") or {}).get("name", ""))
