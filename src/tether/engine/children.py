"""App of apps: Applications rendered from Git, managed like any other resource.

A root app whose source renders Applications creates them, and they become
apps of their own. Argo CD's layout works as written: ``argoproj.io``
Applications with ``metadata.namespace: argocd`` are converted to Tether
Applications (``application.from_argocd``, so an unsupported field is
refused by name) and placed in Tether's app namespace, the only one the
controller watches. Labels, annotations and finalizers are kept: the
finalizer is what decides whether removing a child removes its resources.

Two rules keep a tree of apps a tree:

- a child lands in the app namespace only; an Application anywhere else
  would be an object the controller never reconciles;
- an app may not render itself or any app above it (the chain of
  ``app.tether.dev/instance`` labels, which every rendered object carries),
  since it would then rewrite the spec of the app that deploys it.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable, Iterable
from typing import Any

from tether.engine import application, plan, projects
from tether.engine.appsets import spec as appsets
from tether.engine.objects import Obj, key_of, labels, meta

ARGO_API_VERSION = "argoproj.io/v1alpha1"
ARGO_NAMESPACE = "argocd"
APPLICATION_VERSIONS = (application.API_VERSION, ARGO_API_VERSION)

# Deleting an Application that carries one of these deletes what it deployed
# first. Argo CD's plain name is its foreground variant: the Application stays
# until its resources are gone; the background one only issues the deletes.
ARGO_FINALIZER = "resources-finalizer.argocd.argoproj.io"
TETHER_FINALIZER = "resources-finalizer.tether.dev"
FOREGROUND_FINALIZERS = (
    ARGO_FINALIZER,
    f"{ARGO_FINALIZER}/foreground",
    TETHER_FINALIZER,
    f"{TETHER_FINALIZER}/foreground",
)
BACKGROUND_FINALIZERS = (f"{ARGO_FINALIZER}/background", f"{TETHER_FINALIZER}/background")
CASCADE_FINALIZERS = FOREGROUND_FINALIZERS + BACKGROUND_FINALIZERS


class ChildError(ValueError):
    """A rendered Application that cannot become a Tether app; the message names it."""


def is_application(obj: Obj) -> bool:
    return obj.get("kind") == application.KIND and obj.get("apiVersion") in APPLICATION_VERSIONS


def is_application_set(obj: Obj) -> bool:
    return obj.get("kind") == appsets.KIND and obj.get("apiVersion") in APPLICATION_VERSIONS


def is_app_object(obj: Obj) -> bool:
    """An object that lives in the app namespace whatever the app's destination."""
    return is_application(obj) or is_application_set(obj)


def convert(obj: Obj, app_namespace: str) -> Obj:
    """A rendered Application or ApplicationSet (Tether's or Argo CD's) as Tether's."""
    kind = str(obj.get("kind"))
    name = str(meta(obj).get("name") or "")
    if not name:
        raise ChildError(f"an {kind} without metadata.name")
    namespace = str(meta(obj).get("namespace") or "")
    if namespace not in ("", app_namespace, ARGO_NAMESPACE):
        raise ChildError(
            f"{kind}/{name}: namespace {namespace!r}: {kind}s live in the app "
            f"namespace {app_namespace!r} (Argo CD's {ARGO_NAMESPACE!r} is mapped to it)"
        )
    if obj.get("apiVersion") == ARGO_API_VERSION:
        try:
            if is_application_set(obj):
                out = appsets.from_argocd(obj, app_namespace)
            else:
                out = application.from_argocd(obj, app_namespace)
        except (application.SpecError, appsets.SetSpecError) as exc:
            raise ChildError(f"{kind}/{name}: {exc}") from None
    else:
        out = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("status", "operation")}
    kept: dict[str, Any] = {"name": name, "namespace": app_namespace}
    for field in ("labels", "annotations", "finalizers"):
        if meta(obj).get(field):
            kept[field] = copy.deepcopy(meta(obj)[field])
    out["metadata"] = kept
    return out


def convert_all(rendered: Iterable[Obj], app_namespace: str) -> list[Obj]:
    """Every rendered object, with its Applications converted; raises ChildError."""
    out: list[Obj] = []
    problems: list[str] = []
    for obj in rendered:
        if not is_app_object(obj):
            out.append(obj)
            continue
        try:
            out.append(convert(obj, app_namespace))
        except ChildError as exc:
            problems.append(str(exc))
    if problems:
        raise ChildError("; ".join(problems))
    return out


def place(
    rendered: list[Obj],
    *,
    destination: str,
    app_namespace: str,
    namespaced: dict[tuple[str, str], bool],
    app_label: tuple[str, str],
) -> list[Obj]:
    """``plan.place`` for a render that may hold Applications: they go to the app
    namespace, everything else to the destination; raises ``plan.PlanError``."""
    apps = [o for o in rendered if is_app_object(o)]
    rest = [o for o in rendered if not is_app_object(o)]
    placed = plan.place(rest, destination=destination, namespaced=namespaced, app_label=app_label)
    if apps:
        placed += plan.place(
            apps, destination=app_namespace, namespaced=namespaced, app_label=app_label
        )
    return placed


def applications(objects: Iterable[Obj]) -> list[Obj]:
    return [o for o in objects if is_application(o)]


def ancestors(name: str, parent_of: Callable[[str], str | None]) -> list[str]:
    """The apps above ``name``, nearest first, following each app's instance label."""
    chain: list[str] = []
    seen = {name}
    current = parent_of(name)
    while current and current not in seen:
        chain.append(current)
        seen.add(current)
        current = parent_of(current)
    if current and current in seen:
        chain.append(current)  # already a loop (made by hand): name it, stop there
    return chain


def parent_label(app: Obj | None) -> str | None:
    """The app that deploys ``app`` (its instance label), or None for a root."""
    if app is None:
        return None
    return labels(app).get(application.INSTANCE_LABEL) or None


def guard(
    app_name: str, desired: Iterable[Obj], parent_of: Callable[[str], str | None]
) -> str | None:
    """Why this render must not be applied (it holds this app or an app above it), or None."""
    above = ancestors(app_name, parent_of)
    problems = []
    for obj in applications(desired):
        child = key_of(obj).name
        if child == app_name:
            problems.append(f"Application/{child} is this app itself")
        elif child in above:
            path = " -> ".join(reversed([app_name, *above[: above.index(child) + 1]]))
            problems.append(f"Application/{child} is an app above this one ({path})")
    if not problems:
        return None
    return (
        f"nothing applied: {'; '.join(problems)}; an app may not manage itself or an app "
        "that deploys it"
    )


def project_refusal(project: projects.Project, desired: Iterable[Obj]) -> str | None:
    """Why the rendered Applications may not be created (one names a project this app's
    project does not delegate to), or None. Without this, rendering an Application would
    be a way out of the project: a child in a wider project reaches what its parent may not.
    """
    allowed = [project.name, *project.spec.child_projects]
    outside = []
    for obj in applications(desired):
        named = str((obj.get("spec") or {}).get("project") or "default")
        if not any(fnmatch.fnmatchcase(named, glob) for glob in allowed):
            outside.append(f"Application/{key_of(obj).name} names project {named!r}")
    if not outside:
        return None
    return (
        f"nothing applied: {'; '.join(outside[:5])}"
        + (f" (and {len(outside) - 5} more)" if len(outside) > 5 else "")
        + f"; project {project.name} lets the apps it renders name only "
        + ", ".join(repr(a) for a in allowed)
        + " (spec.childProjects)"
    )


def cascades(app: Obj) -> bool:
    return any(f in CASCADE_FINALIZERS for f in meta(app).get("finalizers") or [])


def waits_for_resources(app: Obj) -> bool:
    """Foreground cascade: the Application stays until its resources are gone."""
    return any(f in FOREGROUND_FINALIZERS for f in meta(app).get("finalizers") or [])


def without_cascade(finalizers: Iterable[str]) -> list[str]:
    return [f for f in finalizers if f not in CASCADE_FINALIZERS]


def deleting(app: Obj) -> bool:
    return bool(meta(app).get("deletionTimestamp"))
