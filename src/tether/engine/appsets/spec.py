"""The ApplicationSet resource: generators, a template, and what may happen to generated apps.

The spec has Argo CD's shape so an ``argoproj.io/v1alpha1`` ApplicationSet
converts as it is (``from_argocd``). Fields Tether does not honour are refused
by name, never silently dropped. The CRD is ``crds/applicationset.yaml``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tether.engine import application

GROUP = application.GROUP
VERSION = application.VERSION
API_VERSION = application.API_VERSION
KIND = "ApplicationSet"
PLURAL = "applicationsets"
ARGO_API_VERSION = "argoproj.io/v1alpha1"
# On every generated Application: which set made it (the ownerReference says it too).
SET_LABEL = "appset.tether.dev/name"
# What ``syncPolicy.applicationsSync`` allows; unset means DEFAULT_POLICY (docs/decisions.md).
Policy = Literal["create-only", "create-update", "create-delete", "sync"]
DEFAULT_POLICY: Policy = "create-update"


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class DirectoryEntry(_Model):
    path: str = Field(min_length=1)
    exclude: bool = False


class FileEntry(_Model):
    path: str = Field(min_length=1)


class GitGenerator(_Model):
    repo_url: str = Field(alias="repoURL", min_length=1)
    revision: str = "HEAD"
    directories: list[DirectoryEntry] = Field(default_factory=list)
    files: list[FileEntry] = Field(default_factory=list)
    values: dict[str, str] = Field(default_factory=dict)
    path_param_prefix: str = Field("", alias="pathParamPrefix")

    @model_validator(mode="after")
    def _one_kind(self) -> GitGenerator:
        if bool(self.directories) == bool(self.files):
            raise ValueError("exactly one of directories or files must be given")
        return self


class ListGenerator(_Model):
    elements: list[dict[str, Any]] = Field(default_factory=list)


class LabelSelector(_Model):
    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: list[MatchExpression] = Field(default_factory=list, alias="matchExpressions")


class ClusterGenerator(_Model):
    selector: LabelSelector = Field(default_factory=lambda: LabelSelector.model_validate({}))
    values: dict[str, str] = Field(default_factory=dict)


class Generator(_Model):
    list_: ListGenerator | None = Field(None, alias="list")
    git: GitGenerator | None = None
    clusters: ClusterGenerator | None = None
    matrix: Matrix | None = None
    merge: Merge | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Generator:
        given = [k for k in ("list_", "git", "clusters", "matrix", "merge") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "each generator must be exactly one of list, git, clusters, matrix, merge"
            )
        return self


class Matrix(_Model):
    generators: list[Generator] = Field(min_length=2, max_length=2)


class Merge(_Model):
    merge_keys: list[str] = Field(alias="mergeKeys", min_length=1)
    generators: list[Generator] = Field(min_length=2)


class MatchExpression(_Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default_factory=list)

    def matches(self, labels: dict[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        inside = self.key in labels and labels[self.key] in self.values
        return inside if self.operator == "In" else not inside


class RollingStep(_Model):
    match_expressions: list[MatchExpression] = Field(alias="matchExpressions", min_length=1)

    def matches(self, labels: dict[str, str]) -> bool:
        return all(e.matches(labels) for e in self.match_expressions)


class RollingSync(_Model):
    steps: list[RollingStep] = Field(min_length=1)


class Strategy(_Model):
    type: Literal["AllAtOnce", "RollingSync"] = "AllAtOnce"
    rolling_sync: RollingSync | None = Field(None, alias="rollingSync")

    @model_validator(mode="after")
    def _steps(self) -> Strategy:
        if self.type == "RollingSync" and self.rolling_sync is None:
            raise ValueError("type RollingSync needs rollingSync.steps")
        return self


class SetSyncPolicy(_Model):
    preserve_resources_on_deletion: bool = Field(False, alias="preserveResourcesOnDeletion")
    applications_sync: Policy = Field(DEFAULT_POLICY, alias="applicationsSync")

    @property
    def may_update(self) -> bool:
        return self.applications_sync in ("create-update", "sync")

    @property
    def may_delete(self) -> bool:
        return self.applications_sync in ("create-delete", "sync")


class TemplateMeta(_Model):
    name: str = Field(min_length=1)
    namespace: str = ""  # ignored: generated apps live in Tether's app namespace
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)


class Template(_Model):
    metadata: TemplateMeta
    spec: dict[str, Any]

    @field_validator("spec")
    @classmethod
    def _project(cls, spec: dict[str, Any]) -> dict[str, Any]:
        project = spec.get("project", application.ApplicationSpec.model_fields["project"].default)
        if not isinstance(project, str) or "{{" in project:
            raise ValueError(
                ".project must be a plain name, not a template: an ApplicationSet generates "
                "apps in one project only"
            )
        return spec


class ApplicationSetSpec(_Model):
    generators: list[Generator] = Field(min_length=1)
    template: Template
    go_template: bool = Field(False, alias="goTemplate")
    go_template_options: list[str] = Field(default_factory=list, alias="goTemplateOptions")
    sync_policy: SetSyncPolicy = Field(
        default_factory=lambda: SetSyncPolicy.model_validate({}), alias="syncPolicy"
    )
    strategy: Strategy = Field(default_factory=lambda: Strategy.model_validate({}))

    @field_validator("go_template_options")
    @classmethod
    def _options(cls, options: list[str]) -> list[str]:
        for option in options:
            if option != "missingkey=error":
                raise ValueError(
                    f"{option!r} is not supported: only missingkey=error (a missing key is "
                    "always an error in Tether)"
                )
        return options

    @property
    def project(self) -> str:
        return str(self.template.spec.get("project") or "default")

    @property
    def steps(self) -> list[RollingStep]:
        rolling = self.strategy.rolling_sync
        return rolling.steps if self.strategy.type == "RollingSync" and rolling else []


for _model in (LabelSelector, ClusterGenerator, Generator, Matrix, Merge, ApplicationSetSpec):
    _model.model_rebuild()


class SetSpecError(ValueError):
    """An ApplicationSet spec that cannot be used; the message names each bad field."""


def parse_spec(spec: dict[str, Any], *, where: str = "spec") -> ApplicationSetSpec:
    try:
        return ApplicationSetSpec.model_validate(spec)
    except ValidationError as exc:
        raise SetSpecError(_describe(exc, where)) from None


def _describe(exc: ValidationError, where: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join([where, *(str(p).rstrip("_") for p in err["loc"])])
        loc = loc.replace(".list_", ".list")
        if err["type"] == "extra_forbidden":
            msg = "not supported by Tether (see docs/applicationsets.md)"
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
        if msg.startswith("."):  # a validator that names a field inside its own
            loc, _, msg = (loc + msg).partition(" ")
            loc = loc.rstrip(":")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def new_set(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def from_argocd(manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
    """An ``argoproj.io/v1alpha1`` ApplicationSet as Tether's (same field names).

    Argo CD's ``metadata.namespace`` (usually ``argocd``) is replaced by
    Tether's app namespace; labels and annotations are kept. Unsupported
    fields are named in the error.
    """
    meta = dict(manifest.get("metadata") or {})
    name = str(meta.get("name", ""))
    spec = dict(manifest.get("spec") or {})
    try:
        parse_spec(spec)
    except SetSpecError as exc:
        raise SetSpecError(f"Argo CD ApplicationSet {name}: {exc}") from None
    obj = new_set(name, namespace, spec)
    for key in ("labels", "annotations"):
        if meta.get(key):
            obj["metadata"][key] = dict(meta[key])
    return obj


def is_argocd(manifest: dict[str, Any]) -> bool:
    return manifest.get("apiVersion") == ARGO_API_VERSION and manifest.get("kind") == KIND
