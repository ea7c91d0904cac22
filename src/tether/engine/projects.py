"""Projects: the tenant boundary every Application lives inside.

A Project says which repositories an app may read, where it may deploy,
which kinds it may create, when it may sync and as whom. The controller asks
this module before it reads Git, before it applies anything, and before an
automated or manual sync; the API asks it nothing about deployability (only
the controller enforces, so no surface can be talked around).

The shape is Argo CD's AppProject (``sourceRepos``, ``destinations``,
``clusterResourceWhitelist``, ``namespaceResourceBlacklist``, ``syncWindows``,
``destinationServiceAccounts``), so an AppProject manifest converts as it is.
Where Tether is stricter than Argo CD:

- cluster-scoped kinds are refused unless the project lists them
  (Argo CD's default project allows everything);
- the app namespace and every ``kube-*`` namespace match only a destination
  that names them exactly, never a glob such as ``*``;
- Tether's own kinds and Argo CD's Application/AppProject may be rendered
  from Git only where the project's ``namespaceResourceWhitelist`` names them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tether.engine import application
from tether.engine.application import ApplicationSpec, duration_seconds
from tether.engine.credentials import comparable_url, strip_userinfo
from tether.engine.objects import Obj, ObjectKey

API_VERSION = application.API_VERSION
IN_CLUSTER = application.IN_CLUSTER
KIND = "Project"
PLURAL = "projects"
DEFAULT = "default"
ARGO_API_VERSION = "argoproj.io/v1alpha1"
IN_CLUSTER_NAME = "in-cluster"

# Kinds that steer Tether (or Argo CD) itself: an app that could render them
# could create apps of any project or rewrite the rules it is held to.
CONTROL_KINDS = {
    ("tether.dev", "Application"),
    ("tether.dev", "Project"),
    ("tether.dev", "RegistryCredential"),
    ("tether.dev", "ApplicationSet"),
    ("argoproj.io", "Application"),
    ("argoproj.io", "AppProject"),
    ("argoproj.io", "ApplicationSet"),
}

# Argo CD Applications rendered from Git become Tether Applications (app of
# apps), so a whitelist may name either group for the same permission.
SAME_KIND = {
    ("tether.dev", "Application"): ("tether.dev", "argoproj.io"),
    ("argoproj.io", "Application"): ("tether.dev", "argoproj.io"),
    ("tether.dev", "ApplicationSet"): ("tether.dev", "argoproj.io"),
    ("argoproj.io", "ApplicationSet"): ("tether.dev", "argoproj.io"),
}


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class GroupKind(_Model):
    group: str = ""
    kind: str

    def matches(self, group: str, kind: str) -> bool:
        return fnmatchcase(group, self.group or "") and fnmatchcase(kind, self.kind)


class ProjectDestination(_Model):
    server: str = ""
    name: str = ""
    namespace: str = ""

    def matches_server(self, server: str, name: str | None = None) -> bool:
        """Whether this entry allows the cluster at ``server`` named ``name``
        (a registered cluster's name; the cluster Tether runs in is ``in-cluster``)."""
        if self.name:
            if name is None:
                name = IN_CLUSTER_NAME if server == IN_CLUSTER else ""
            return bool(name) and fnmatchcase(name, self.name)
        return fnmatchcase(server, self.server or "")


class SyncWindow(_Model):
    kind: Literal["allow", "deny"]
    schedule: str
    duration: str
    applications: list[str] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list)
    clusters: list[str] = Field(default_factory=list)
    manual_sync: bool = Field(False, alias="manualSync")
    time_zone: str = Field("UTC", alias="timeZone")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron schedule")
        return value

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        try:
            if duration_seconds(value) <= 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"{value!r} is not a duration such as 30m or 2h") from None
        return value

    def applies_to(self, app: str, namespace: str, server: str) -> bool:
        return (
            any(fnmatchcase(app, g) for g in self.applications)
            or any(fnmatchcase(namespace, g) for g in self.namespaces)
            or any(fnmatchcase(server, g) for g in self.clusters)
        )

    def active(self, now: dt.datetime) -> bool:
        try:
            zone: dt.tzinfo = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = dt.UTC
        local = now.astimezone(zone)
        # The last start at or before now (croniter's get_prev is strictly before).
        start = croniter(self.schedule, local + dt.timedelta(seconds=1)).get_prev(dt.datetime)
        return bool(local < start + dt.timedelta(seconds=duration_seconds(self.duration)))


class DestinationServiceAccount(_Model):
    server: str = "*"
    namespace: str = "*"
    default_service_account: str = Field(alias="defaultServiceAccount", min_length=1)


class ProjectSpec(_Model):
    description: str = ""
    source_repos: list[str] = Field(default_factory=list, alias="sourceRepos")
    destinations: list[ProjectDestination] = Field(default_factory=list)
    cluster_resource_whitelist: list[GroupKind] = Field(
        default_factory=list, alias="clusterResourceWhitelist"
    )
    namespace_resource_blacklist: list[GroupKind] = Field(
        default_factory=list, alias="namespaceResourceBlacklist"
    )
    namespace_resource_whitelist: list[GroupKind] = Field(
        default_factory=list, alias="namespaceResourceWhitelist"
    )
    sync_windows: list[SyncWindow] = Field(default_factory=list, alias="syncWindows")
    destination_service_accounts: list[DestinationServiceAccount] = Field(
        default_factory=list, alias="destinationServiceAccounts"
    )
    # Projects the Applications this project's apps render (app of apps) may
    # name, as globs; empty means only this project itself.
    child_projects: list[str] = Field(default_factory=list, alias="childProjects")


class ProjectError(ValueError):
    """A Project that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Project:
    name: str
    spec: ProjectSpec


def parse(obj: Obj) -> Project:
    name = str((obj.get("metadata") or {}).get("name", ""))
    try:
        spec = ProjectSpec.model_validate(obj.get("spec") or {})
    except ValidationError as exc:
        parts = [f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ProjectError(f"Project {name}: {'; '.join(parts)}") from None
    return Project(name, spec)


def default_spec(app_namespace: str) -> dict[str, Any]:
    """What a single-team install needs: any repository, any namespace but the
    reserved ones, no cluster-scoped kinds, syncs as the controller's deployer."""
    return {
        "description": "Apps that name no project. Namespaced kinds only.",
        "sourceRepos": ["*"],
        "destinations": [{"server": IN_CLUSTER, "namespace": "*"}],
        "destinationServiceAccounts": [
            {
                "server": "*",
                "namespace": "*",
                "defaultServiceAccount": f"{app_namespace}:{DEPLOYER}",
            }
        ],
    }


DEPLOYER = "tether-deployer"


def new_project(name: str, namespace: str, spec: dict[str, Any]) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def from_argocd(manifest: Obj, namespace: str) -> Obj:
    """An ``argoproj.io/v1alpha1`` AppProject as a Tether Project (same field names).

    Fields Tether does not enforce are refused by name rather than silently
    dropped: a user who relies on them must know they do nothing here.
    """
    spec = dict(manifest.get("spec") or {})
    honoured = set(ProjectSpec.model_fields) | {
        f.alias for f in ProjectSpec.model_fields.values() if f.alias
    }
    ignored_ok = {"roles", "sourceNamespaces", "orphanedResources", "signatureKeys"}
    unsupported = [f"spec.{k}" for k in spec if k not in honoured and k not in ignored_ok]
    if "clusterResourceBlacklist" in unsupported:
        unsupported.remove("spec.clusterResourceBlacklist")
        if spec.get("clusterResourceWhitelist") and spec.get("clusterResourceBlacklist"):
            unsupported.append("spec.clusterResourceBlacklist (with a whitelist)")
    name = str((manifest.get("metadata") or {}).get("name", ""))
    if unsupported:
        raise ProjectError(f"AppProject {name}: fields not supported: {', '.join(unsupported)}")
    spec.pop("clusterResourceBlacklist", None)
    for key in ignored_ok:
        spec.pop(key, None)
    obj = new_project(name, namespace, spec)
    parse(obj)
    return obj


# -- decisions ---------------------------------------------------------------


def reserved(namespace: str, app_namespace: str) -> bool:
    return namespace == app_namespace or namespace.startswith("kube-")


def repo_allowed(project: Project, repo_url: str) -> bool:
    url = comparable_url(repo_url)
    for pattern in project.spec.source_repos:
        if pattern == "*" or fnmatchcase(url, comparable_url(pattern)):
            return True
    return False


def destination_allowed(
    project: Project, server: str, namespace: str, app_namespace: str, name: str | None = None
) -> bool:
    for dest in project.spec.destinations:
        if not dest.matches_server(server, name):
            continue
        if reserved(namespace, app_namespace):
            if dest.namespace == namespace:
                return True
        elif fnmatchcase(namespace, dest.namespace or ""):
            return True
    return False


def check_app(
    project: Project,
    spec: ApplicationSpec,
    app_namespace: str,
    cluster: tuple[str, str] | None = None,
) -> list[str]:
    """What in the app itself the project forbids (before Git is even read).
    ``cluster`` is the (server, name) the destination resolved to."""
    problems = []
    for source in spec.all_sources:
        if not repo_allowed(project, source.repo_url):
            problems.append(
                f"source repository {strip_userinfo(source.repo_url)} is not allowed by project "
                f"{project.name} (sourceRepos: {', '.join(project.spec.source_repos) or 'none'})"
            )
    dest = spec.destination
    server, name = cluster or (dest.server, dest.name or None)
    if not destination_allowed(project, server, dest.namespace, app_namespace, name):
        allowed = ", ".join(
            f"{d.name or d.server}/{d.namespace}" for d in project.spec.destinations
        )
        why = (
            " (a reserved namespace: only a destination naming it exactly allows it)"
            if reserved(dest.namespace, app_namespace)
            else ""
        )
        where = "" if server == IN_CLUSTER else f" on cluster {name or server}"
        problems.append(
            f"destination namespace {dest.namespace!r}{where} is not allowed by project "
            f"{project.name}{why} (destinations: {allowed or 'none'})"
        )
    return problems


def check_objects(project: Project, keys: Iterable[ObjectKey]) -> list[str]:
    """Rendered objects the project does not allow, each named with the rule."""
    problems = []
    spec = project.spec
    for key in keys:
        ident = f"{key.kind}/{key.name}" + (f" ({key.group})" if key.group else "")
        if not key.namespace:
            if not any(r.matches(key.group, key.kind) for r in spec.cluster_resource_whitelist):
                problems.append(
                    f"{ident}: cluster-scoped {key.group or 'core'}/{key.kind} is not in "
                    f"project {project.name}'s clusterResourceWhitelist"
                )
            continue
        whitelisted = any(
            r.matches(group, key.kind)
            for r in spec.namespace_resource_whitelist
            for group in SAME_KIND.get((key.group, key.kind), (key.group,))
        )
        if (key.group, key.kind) in CONTROL_KINDS and not whitelisted:
            problems.append(
                f"{ident}: {key.group}/{key.kind} steers the CD system itself and is allowed only "
                f"where project {project.name}'s namespaceResourceWhitelist names it"
            )
        elif spec.namespace_resource_whitelist and not whitelisted:
            problems.append(
                f"{ident}: {key.group or 'core'}/{key.kind} is not in project {project.name}'s "
                "namespaceResourceWhitelist"
            )
        elif any(r.matches(key.group, key.kind) for r in spec.namespace_resource_blacklist):
            problems.append(
                f"{ident}: {key.group or 'core'}/{key.kind} is in project {project.name}'s "
                "namespaceResourceBlacklist"
            )
    return problems


def service_account(project: Project, server: str, namespace: str) -> str | None:
    """The user syncs of this destination impersonate, ``system:serviceaccount:NS:NAME``.

    ``defaultServiceAccount`` is ``NAME`` (in the destination namespace) or
    ``NS:NAME``, as in Argo CD; the first matching entry wins.
    """
    for entry in project.spec.destination_service_accounts:
        if fnmatchcase(server, entry.server) and fnmatchcase(namespace, entry.namespace):
            sa_ns, _, sa_name = entry.default_service_account.rpartition(":")
            return f"system:serviceaccount:{sa_ns or namespace}:{sa_name}"
    return None


@dataclass(frozen=True)
class WindowVerdict:
    automated: bool
    manual: bool
    message: str = ""


def sync_windows(
    project: Project, app: str, namespace: str, server: str, now: dt.datetime
) -> WindowVerdict:
    """Argo CD's rules: an active deny wins; with any allow window defined for the
    app, syncs happen only inside an active one; ``manualSync`` lets a person
    sync through a window that stops automation."""
    windows = [w for w in project.spec.sync_windows if w.applies_to(app, namespace, server)]
    if not windows:
        return WindowVerdict(True, True)
    active = [w for w in windows if w.active(now)]
    denies = [w for w in active if w.kind == "deny"]
    allows = [w for w in windows if w.kind == "allow"]
    if denies:
        w = denies[0]
        return WindowVerdict(
            False,
            all(d.manual_sync for d in denies),
            f"a deny sync window of project {project.name} is active ({w.schedule} for "
            f"{w.duration}, {w.time_zone})",
        )
    if allows and not any(w.kind == "allow" for w in active):
        return WindowVerdict(
            False,
            any(w.manual_sync for w in allows),
            f"outside every allow sync window of project {project.name} ("
            + ", ".join(f"{w.schedule} for {w.duration}" for w in allows)
            + ")",
        )
    return WindowVerdict(True, True)
