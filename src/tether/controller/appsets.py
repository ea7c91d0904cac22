"""The ApplicationSet loop: read generators' Git, render the template, write Applications.

Design choices:

* **Polling, like registry credentials.** Every ``poll_interval`` seconds one
  pass lists ApplicationSets and Applications of the app namespace and
  reconciles each set. Git is read through the controller's ``Sources`` (the
  same bare-repository cache, revision memo and local-repository refusal as
  apps), so a set costs one remote listing per poll window per repository.
* **All or nothing before any write.** Generators, the template and every
  generated Application are checked first; an error becomes the
  ``ErrorOccurred`` condition naming the field, and nothing is created,
  updated or deleted in that pass.
* **One project per set.** Generated apps live in the template's
  ``spec.project`` (a plain name, never a template), which must exist; a set
  rendered from Git by an app may only name that app's project or one it
  lists in ``childProjects`` (the app-of-apps rule); the set reads
  only repositories its project allows. The app reconcile enforces the rest
  of the project, as for any app.
* **Deletes follow the policy** (``syncPolicy.applicationsSync``, default
  ``create-update``: nothing is deleted unless allowed) and
  ``preserveResourcesOnDeletion`` (delete the Application only, or it and its
  resources, acting as the project's ServiceAccount like any app delete).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from fnmatch import fnmatchcase
from typing import Any

from tether.adapters import git
from tether.adapters.kube import ApiError, Conflict, KubeClient
from tether.controller import appset_clusters, events
from tether.controller.deletion import ActionRefused, Deletions
from tether.controller.loops import PeriodicLoop, ServedKind, api_error
from tether.controller.projects import ProjectSource
from tether.controller.sources.gate import RepositoryBusy
from tether.controller.sources.step import Sources
from tether.engine import application as appmodel
from tether.engine import projects
from tether.engine.appsets import generators as gens
from tether.engine.appsets import plan as planning
from tether.engine.appsets import render, template
from tether.engine.appsets import spec as model
from tether.engine.credentials import strip_userinfo
from tether.engine.objects import Obj, labels

log = logging.getLogger(__name__)
MAX_TREES = 16
ERROR = "ErrorOccurred"
UP_TO_DATE = "ResourcesUpToDate"
ROLLING = "RollingSync"

Credentials = Callable[[str, str], Awaitable[git.GitCredentials | None]]


class Refused(ValueError):
    """The set may not do what it asks (project rules); the message says which rule."""


class ApplicationSetReconciler:
    """Runs inside the Controller's asyncio loop: ``await start()`` ... ``await stop()``."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        sources: Sources,
        credentials: Credentials,
        projects: ProjectSource,
        app_namespace: str = "tether",
        poll_interval: float = 5.0,
    ) -> None:
        self.kube = kube
        self.sources = sources
        self.credentials = credentials
        self.projects = projects
        self.namespace = app_namespace
        self.poll_interval = poll_interval
        self.deletions = Deletions(kube, projects, app_namespace)
        self.passes = 0
        self._loop = PeriodicLoop(
            "applicationsets", lambda: self.run_once(), lambda: self.poll_interval
        )
        self._served = ServedKind(kube, model.API_VERSION, model.KIND)
        self._trees: dict[tuple[str, str], dict[str, bytes]] = {}

    # -- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    # -- one pass -----------------------------------------------------------
    async def run_once(self) -> None:
        api = await self._served.api()
        if api is None:
            return
        sets, _ = await self.kube.list(api, self.namespace)
        app_api = await self.kube.resource_for(appmodel.API_VERSION, appmodel.KIND)
        # With no set, only apps a deleted set generated (labelled) can need work: listing
        # every Application each pass cost a 5,000-app controller a fifth of its CPU.
        selector = None if sets else model.SET_LABEL
        apps, _ = await self.kube.list(app_api, self.namespace, label_selector=selector)
        await self._delete_orphans(sets, apps)
        for set_obj in sets:
            if (set_obj["metadata"].get("deletionTimestamp")) is not None:
                continue
            try:
                await self.reconcile(set_obj, apps)
            except ApiError as exc:
                log.warning(
                    "ApplicationSet %s failed: %s", set_obj["metadata"]["name"], api_error(exc)
                )
            except Exception:
                log.exception("ApplicationSet %s failed", set_obj["metadata"]["name"])
        self.passes += 1

    async def reconcile(self, set_obj: Obj, apps: list[Obj]) -> None:
        name = str(set_obj["metadata"]["name"])
        uid = str(set_obj["metadata"].get("uid", ""))
        owned = [a for a in apps if planning.owned_by(a, name, uid)]
        status: dict[str, Any] = {}
        try:
            spec = model.parse_spec(set_obj.get("spec") or {})
            project = await self._admit(set_obj, spec, apps)
            params = await self._generate(spec, project)
            desired = render.applications(name, spec, params, self.namespace)
            self._check_apps(desired, project)
        except RepositoryBusy as busy:
            # Another call on the repository runs long (maybe hanging to its timeout): the
            # next pass tries again; the set's last word stands until one answers.
            log.info("ApplicationSet %s: %s; next pass tries again", name, busy)
            return
        except (
            model.SetSpecError,
            gens.GeneratorError,
            template.TemplateError,
            render.RenderError,
            Refused,
            git.GitError,
        ) as exc:
            _condition(status, ERROR, True, "GenerateFailed", str(exc))
            _condition(status, UP_TO_DATE, False, "GenerateFailed", "nothing created or deleted")
            status["resources"] = _resources(owned, {}, {})
            status["applicationCount"] = len(owned)
            await self._write_status(set_obj, status)
            return
        statuses = {str(a["metadata"]["name"]): a.get("status") or {} for a in owned}
        steps = planning.rolling(desired, spec.steps, statuses)
        holds = {s.app: s.held for s in steps}
        the_plan = planning.plan(set_obj, desired, apps, spec.sync_policy, holds)
        failures = await self._apply(set_obj, spec, the_plan)
        problems = failures + list(the_plan.conflicts.values())
        _condition(
            status,
            ERROR,
            bool(problems),
            "ApplyFailed" if problems else "Generated",
            "; ".join(problems) if problems else f"{len(desired)} applications generated",
        )
        _condition(
            status,
            UP_TO_DATE,
            not problems and not the_plan.kept,
            "ApplicationSetUpToDate" if not problems and not the_plan.kept else "NotUpToDate",
            "; ".join(f"{k}: {v}" for k, v in sorted(the_plan.kept.items()))
            or ("; ".join(problems) if problems else "all applications are up to date"),
        )
        deleted = {str(a["metadata"]["name"]) for a in the_plan.delete}
        current = {
            str(a["metadata"]["name"]): a for a in owned if a["metadata"]["name"] not in deleted
        }
        for app in the_plan.create:
            current.setdefault(str(app["metadata"]["name"]), app)
        status["resources"] = _resources(list(current.values()), the_plan.kept, statuses)
        status["applicationCount"] = len(current)
        if steps:
            status["applicationStatus"] = [
                {
                    "application": s.app,
                    "step": str(s.step),
                    "status": "Healthy" if s.ready else ("Waiting" if s.held else "Progressing"),
                    "message": s.held or "",
                }
                for s in steps
            ]
        await self._write_status(set_obj, status)

    async def _delete_orphans(self, sets: list[Obj], apps: list[Obj]) -> None:
        """Apps whose ApplicationSet was deleted: Kubernetes' garbage collector deletes
        them too, but only once it has discovered the CRDs (up to a minute after an
        install). Their resources stay. An app orphaned on purpose (``kubectl delete
        --cascade=orphan``) lost its ownerReference and is not touched."""
        uids = {str(s["metadata"].get("uid")) for s in sets}
        for app in apps:
            if model.SET_LABEL not in labels(app):
                continue
            owners = [
                r
                for r in app["metadata"].get("ownerReferences") or []
                if r.get("kind") == model.KIND and r.get("apiVersion") == model.API_VERSION
            ]
            if owners and all(str(r.get("uid")) not in uids for r in owners):
                try:
                    await self.kube.delete(
                        appmodel.API_VERSION,
                        appmodel.KIND,
                        str(app["metadata"]["name"]),
                        self.namespace,
                        uid=str(app["metadata"].get("uid") or "") or None,
                    )
                except ApiError as exc:
                    log.warning("deleting orphaned app %s: %s", app["metadata"]["name"], exc)

    # -- steps ----------------------------------------------------------------
    async def _admit(
        self, set_obj: Obj, spec: model.ApplicationSetSpec, apps: list[Obj]
    ) -> projects.Project:
        """The template's project exists; a set that an app rendered stays in that app's
        project or one it delegates to (``childProjects``, as for rendered Applications)."""
        try:
            project = await self.projects.get(spec.project)
        except projects.ProjectError as exc:
            raise Refused(f"spec.template.spec.project: {exc}") from None
        parent = labels(set_obj).get(appmodel.INSTANCE_LABEL)
        if parent:
            owner = next((a for a in apps if a["metadata"]["name"] == parent), None)
            parent_project = str(((owner or {}).get("spec") or {}).get("project") or "default")
            allowed = [parent_project]
            with contextlib.suppress(projects.ProjectError):
                allowed += (await self.projects.get(parent_project)).spec.child_projects
            if owner is None or not any(fnmatchcase(spec.project, g) for g in allowed):
                raise Refused(
                    f"spec.template.spec.project: this ApplicationSet is deployed by application "
                    f"{parent} (project {parent_project!r}) and may only generate apps in that "
                    f"project or one it lists in spec.childProjects, not {spec.project!r}"
                )
        return project

    async def _generate(
        self, spec: model.ApplicationSetSpec, project: projects.Project
    ) -> list[gens.Params]:
        trees: dict[tuple[str, str], dict[str, bytes]] = {}
        clusters = [gens.IN_CLUSTER]
        if appset_clusters.uses_clusters(spec.generators):
            clusters = await appset_clusters.registered(self.kube, self.namespace)
        for _ in range(MAX_TREES + 1):
            try:
                return gens.generate(
                    spec.generators, go=spec.go_template, trees=trees, clusters=clusters
                )
            except gens.NeedTree as need:
                trees[(need.repo_url, need.revision)] = await self._tree(
                    need.repo_url, need.revision, project
                )
        raise gens.GeneratorError(f"spec.generators: more than {MAX_TREES} repositories")

    async def _tree(self, url: str, revision: str, project: projects.Project) -> dict[str, bytes]:
        if not projects.repo_allowed(project, url):
            raise Refused(
                f"spec.generators: repository {url} is not allowed by project {project.name!r}"
            )
        self.sources.check_url(url)
        creds = await self.credentials(url, project.name)
        probe = appmodel.parse_spec(
            {
                "source": {"repoURL": url, "targetRevision": revision},
                "destination": {"namespace": "-"},
            }
        )
        try:
            sha = await self.sources.resolve(probe, None, creds)
            key = (git.cache_key(url), sha)
            tree = self._trees.get(key)
            if tree is None:
                tree = await asyncio.to_thread(self.sources.repos.read_tree, url, sha, "", creds)
                self._trees[key] = tree
        except RepositoryBusy:
            raise
        except git.GitError as exc:
            raise gens.GeneratorError(
                f"spec.generators: cannot read {strip_userinfo(url)} at {revision!r}: {exc}"
            ) from None
            while len(self._trees) > MAX_TREES:
                self._trees.pop(next(iter(self._trees)))
        return tree

    def _check_apps(self, desired: list[Obj], project: projects.Project) -> None:
        for app in desired:
            spec = appmodel.parse_spec(app["spec"])
            problems = projects.check_app(project, spec, self.namespace)
            if problems:
                raise Refused(f"Application {app['metadata']['name']}: " + "; ".join(problems))

    async def _apply(
        self, set_obj: Obj, spec: model.ApplicationSetSpec, the_plan: planning.Plan
    ) -> list[str]:
        failures = []
        set_name = str(set_obj["metadata"]["name"])
        for app in the_plan.create:
            try:
                await self.kube.create(app)
                await events.record(
                    self.kube, set_obj, "ApplicationCreated", f"created {app['metadata']['name']}"
                )
            except ApiError as exc:
                failures.append(f"create {app['metadata']['name']}: {exc}")
        for app in the_plan.update:
            try:
                await self.kube.replace(app)
            except Conflict:
                pass  # changed meanwhile: the next pass compares again
            except ApiError as exc:
                failures.append(f"update {app['metadata']['name']}: {exc}")
        cascade = not spec.sync_policy.preserve_resources_on_deletion
        for app in the_plan.delete:
            app_name = str(app["metadata"]["name"])
            try:
                result = await self.deletions.app(app, cascade=cascade)
            except (ApiError, ActionRefused) as exc:
                failures.append(f"delete {app_name}: {exc}")
                continue
            for key, why in result.kept.items():
                log.info("deleting %s kept %s: %s", app_name, key, why)
            await events.record(
                self.kube,
                set_obj,
                "ApplicationDeleted",
                f"deleted {app_name} ({'with' if cascade else 'without'} its resources) "
                f"as ApplicationSet {set_name} no longer generates it",
            )
        return failures

    async def _write_status(self, set_obj: Obj, status: dict[str, Any]) -> None:
        old = set_obj.get("status") or {}
        for cond in status.get("conditions", []):
            before = next(
                (c for c in old.get("conditions") or [] if c.get("type") == cond["type"]), None
            )
            if before and before.get("status") == cond["status"]:
                cond["lastTransitionTime"] = before.get("lastTransitionTime")
        if old == status:
            return
        patch = {"status": {k: status.get(k) for k in set(old) | set(status)}}
        try:
            await self.kube.merge_patch(
                model.API_VERSION,
                model.KIND,
                str(set_obj["metadata"]["name"]),
                patch,
                self.namespace,
                subresource="status",
            )
        except ApiError as exc:
            log.warning("status of ApplicationSet %s: %s", set_obj["metadata"]["name"], exc)


def _condition(status: dict[str, Any], ctype: str, value: bool, reason: str, message: str) -> None:
    conds = [c for c in status.get("conditions") or [] if c.get("type") != ctype]
    conds.append(
        {
            "type": ctype,
            "status": "True" if value else "False",
            "reason": reason,
            "message": message,
            "lastTransitionTime": events.now_iso(),
        }
    )
    status["conditions"] = sorted(conds, key=lambda c: c["type"])


def _resources(
    apps: list[Obj], kept: dict[str, str], statuses: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    out = []
    for app in sorted(apps, key=lambda a: str(a["metadata"]["name"])):
        name = str(app["metadata"]["name"])
        st = statuses.get(name) or app.get("status") or {}
        entry = {
            "name": name,
            "namespace": str(app["metadata"].get("namespace", "")),
            "sync": (st.get("sync") or {}).get("status", "Unknown"),
            "health": (st.get("health") or {}).get("status", "Unknown"),
        }
        if name in kept:
            entry["message"] = kept[name]
        out.append(entry)
    return out
