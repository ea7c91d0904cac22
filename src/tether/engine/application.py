"""The Application resource: what to deploy from Git, where, and how.

The spec is shaped like Argo CD's so its users feel at home; the models
validate it (an invalid spec becomes a condition naming the field, not a
crash) and convert Argo CD manifests. The CRD itself is in
``crds/application.yaml``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

GROUP = "tether.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Application"
PLURAL = "applications"
IN_CLUSTER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"
INSTANCE_LABEL = "app.tether.dev/instance"
PAUSE_ANNOTATION = "tether.dev/auto-sync-paused"
REFRESH_ANNOTATION = "tether.dev/refresh"
FIELD_MANAGER = "tether"
MAX_BACKOFF_SECONDS = 24 * 3600


def refresh_requested_at(value: str) -> float | None:
    """When a refresh annotation says it was asked for (epoch seconds), or None.

    Tether writes the time (``time.time()``, or an ISO timestamp from the API);
    anything else (Argo CD's ``normal`` or ``hard``) carries no time.
    """
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


KNOWN_SYNC_OPTIONS = {
    "CreateNamespace": {"true", "false"},
    "PruneLast": {"true", "false"},
    "ApplyOutOfSyncOnly": {"true", "false"},
    "Replace": {"true", "false"},
    "AllowEmpty": {"true", "false"},
    "Validate": {"true", "false"},
    "AdoptExisting": {"true", "false"},
    "ServerSideApply": {"true", "false"},
    "RespectIgnoreDifferences": {"true", "false"},
    "SkipDryRunOnMissingResource": {"true", "false"},
    "FailOnSharedResource": {"true", "false"},
}


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class JsonnetVar(_Model):
    name: str = Field(min_length=1)
    value: str = ""
    code: bool = False


class JsonnetSource(_Model):
    libs: list[str] = Field(default_factory=list)
    ext_vars: list[JsonnetVar] = Field(default_factory=list, alias="extVars")
    tlas: list[JsonnetVar] = Field(default_factory=list)


class DirectorySource(_Model):
    recurse: bool = False
    include: str = ""
    exclude: str = ""
    jsonnet: JsonnetSource | None = None


class KustomizeSource(_Model):
    name_prefix: str = Field("", alias="namePrefix")
    name_suffix: str = Field("", alias="nameSuffix")
    images: list[str] = Field(default_factory=list)
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")


class HelmParameter(_Model):
    name: str
    value: str
    force_string: bool = Field(False, alias="forceString")


class HelmSource(_Model):
    release_name: str = Field("", alias="releaseName")
    value_files: list[str] = Field(default_factory=list, alias="valueFiles")
    values: str = ""
    values_object: dict[str, Any] | None = Field(None, alias="valuesObject")
    parameters: list[HelmParameter] = Field(default_factory=list)


class Source(_Model):
    repo_url: str = Field(alias="repoURL", min_length=1)
    target_revision: str = Field("HEAD", alias="targetRevision")
    path: str = "."
    chart: str | None = Field(None, min_length=1)
    ref: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$")
    directory: DirectorySource | None = None
    kustomize: KustomizeSource | None = None
    helm: HelmSource | None = None

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise ValueError("must be a path inside the repository")
        return value.strip("/") or "."

    @field_validator("chart")
    @classmethod
    def _chart_name(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.split("/")):
            raise ValueError("must be a chart name (or a path inside the OCI repository)")
        return value

    @property
    def is_chart(self) -> bool:
        """A chart from a Helm chart repository (HTTP index or OCI), not a Git path."""
        return self.chart is not None

    @property
    def is_artifact(self) -> bool:
        """Manifests from an OCI artifact (``oci://`` without ``chart``), not a Git path."""
        return self.chart is None and self.repo_url.strip().lower().startswith("oci://")

    @property
    def renders(self) -> bool:
        """A ``ref`` source without its own ``path`` only lends files to the others."""
        return self.ref is None or self.is_chart or "path" in self.model_fields_set


class Destination(_Model):
    """``server`` or ``name`` picks a registered cluster (``tether clusters``);
    neither is the cluster Tether runs in. Until resolved, ``server`` of a
    destination given by name is empty."""

    namespace: str = Field(min_length=1)
    server: str = ""
    name: str = ""

    @model_validator(mode="after")
    def _default_cluster(self) -> Destination:
        self.server = self.server.strip().rstrip("/")
        if self.server and self.name:
            raise ValueError("give server or name, not both")
        if not self.server and self.name in ("", IN_CLUSTER_NAME):
            self.server, self.name = IN_CLUSTER, ""
        return self


class Automated(_Model):
    prune: bool = False
    self_heal: bool = Field(False, alias="selfHeal")
    allow_empty: bool = Field(False, alias="allowEmpty")


class Backoff(_Model):
    duration: str = "5s"
    factor: int = Field(2, ge=1, le=10)
    max_duration: str = Field("3m", alias="maxDuration")

    @field_validator("duration", "max_duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        try:
            seconds = duration_seconds(value)
        except ValueError:
            raise ValueError("must be a duration such as 5s, 3m or 1h") from None
        if not 0 <= seconds <= MAX_BACKOFF_SECONDS:
            raise ValueError(f"must be between 0s and {MAX_BACKOFF_SECONDS // 3600}h")
        return value


class Retry(_Model):
    limit: int = 5
    backoff: Backoff = Field(default_factory=lambda: Backoff.model_validate({}))

    def delay(self, attempts: int) -> float:
        """Seconds to wait after ``attempts`` failed syncs. The exponent is capped: after
        enough failures ``factor ** n`` would no longer fit a float."""
        base = duration_seconds(self.backoff.duration)
        cap = duration_seconds(self.backoff.max_duration)
        return min(cap, base * float(self.backoff.factor) ** min(max(attempts - 1, 0), 64))


class SyncPolicy(_Model):
    automated: Automated | None = None
    sync_options: list[str] = Field(default_factory=list, alias="syncOptions")
    retry: Retry | None = None

    @field_validator("sync_options")
    @classmethod
    def _known(cls, options: list[str]) -> list[str]:
        for option in options:
            key, _, value = option.partition("=")
            if key not in KNOWN_SYNC_OPTIONS or value not in KNOWN_SYNC_OPTIONS[key]:
                known = ", ".join(f"{k}=true" for k in KNOWN_SYNC_OPTIONS)
                raise ValueError(f"unknown sync option {option!r} (known: {known})")
        return options

    def option(self, name: str) -> bool:
        return f"{name}=true" in self.sync_options


class IgnoreDifference(_Model):
    group: str = ""
    kind: str
    name: str = ""
    namespace: str = ""
    json_pointers: list[str] = Field(default_factory=list, alias="jsonPointers")
    managed_fields_managers: list[str] = Field(default_factory=list, alias="managedFieldsManagers")


class Dependency(_Model):
    """An app this one waits for (Flux's dependsOn): ``{name: other-app}``."""

    name: str = Field(min_length=1)


class ApplicationSpec(_Model):
    source: Source
    sources: list[Source] = Field(default_factory=list)
    destination: Destination
    sync_policy: SyncPolicy = Field(
        default_factory=lambda: SyncPolicy.model_validate({}), alias="syncPolicy"
    )
    ignore_differences: list[IgnoreDifference] = Field(
        default_factory=list, alias="ignoreDifferences"
    )
    revision_history_limit: int = Field(10, alias="revisionHistoryLimit", ge=1, le=100)
    project: str = "default"
    depends_on: list[Dependency] = Field(default_factory=list, alias="dependsOn")

    @model_validator(mode="before")
    @classmethod
    def _first_of_sources(cls, data: Any) -> Any:
        """With ``sources`` (Argo CD's multi-source shape), ``source`` is the first of them,
        so everything that reads one repository (credentials, projects) sees it."""
        if not isinstance(data, dict) or not data.get("sources"):
            return data
        sources = data["sources"]
        if not isinstance(sources, list) or not isinstance(sources[0], dict):
            return data
        if data.get("source") not in (None, sources[0]):
            raise ValueError("spec.source and spec.sources are both set, and differ: keep one")
        return {**data, "source": sources[0]}

    @property
    def all_sources(self) -> list[Source]:
        return self.sources or [self.source]


class SpecError(ValueError):
    """An Application spec that cannot be used; the message names each bad field."""


def parse_spec(spec: dict[str, Any], *, where: str = "spec") -> ApplicationSpec:
    try:
        return ApplicationSpec.model_validate(spec)
    except ValidationError as exc:
        raise SpecError(_describe(exc, where)) from None


def _describe(exc: ValidationError, where: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join([where, *(str(p) for p in err["loc"])])
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def new_application(name: str, namespace: str, spec: ApplicationSpec) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec.model_dump(
            by_alias=True, exclude_defaults=True, exclude={"source", "sources"}, mode="json"
        )
        | _sources_of(spec)
        | {
            "destination": spec.destination.model_dump(
                by_alias=True, mode="json", exclude_defaults=True
            )
        },
    }


def _sources_of(spec: ApplicationSpec) -> dict[str, Any]:
    def dump(source: Source) -> dict[str, Any]:
        return source.model_dump(by_alias=True, exclude_none=True, mode="json")

    if spec.sources:
        # Unset fields stay unset: a ref source's missing path means "do not render it".
        return {
            "sources": [
                s.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="json")
                for s in spec.sources
            ]
        }
    return {"source": dump(spec.source)}


ARGO_SUPPORTED_SPEC = {
    "source",
    "sources",
    "destination",
    "syncPolicy",
    "ignoreDifferences",
    "revisionHistoryLimit",
    "project",
}
ARGO_SUPPORTED_SOURCE = {
    "repoURL",
    "targetRevision",
    "path",
    "chart",
    "ref",
    "directory",
    "kustomize",
    "helm",
}


def from_argocd(manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
    """Convert an argoproj.io/v1alpha1 Application; unsupported fields are named in the error."""
    spec = dict(manifest.get("spec") or {})
    unsupported = [f"spec.{k}" for k in spec if k not in ARGO_SUPPORTED_SPEC]
    source = dict(spec.get("source") or {})
    unsupported += [f"spec.source.{k}" for k in source if k not in ARGO_SUPPORTED_SOURCE]
    for number, item in enumerate(spec.get("sources") or []):
        extra = [k for k in dict(item or {}) if k not in ARGO_SUPPORTED_SOURCE]
        unsupported += [f"spec.sources[{number}].{k}" for k in extra]
    dest = dict(spec.get("destination") or {})
    if dest.get("name") == IN_CLUSTER_NAME:
        dest.pop("name")
    spec["destination"] = dest
    policy = dict(spec.get("syncPolicy") or {})
    for key in list(policy):
        if key not in {"automated", "syncOptions", "retry"}:
            unsupported.append(f"spec.syncPolicy.{key}")
    automated = policy.get("automated")
    if isinstance(automated, dict):
        automated.pop("enabled", None)
    # ServerSideApply=true is how Tether always writes; false (client-side) is kept.
    options = [o for o in policy.get("syncOptions") or [] if o != "ServerSideApply=true"]
    policy["syncOptions"] = options
    spec["syncPolicy"] = policy
    if unsupported:
        name = (manifest.get("metadata") or {}).get("name", "?")
        raise SpecError(
            f"Argo CD Application {name}: fields not supported yet: {', '.join(unsupported)}"
        )
    parsed = parse_spec(spec)
    meta = manifest.get("metadata") or {}
    return new_application(str(meta.get("name", "")), namespace, parsed)


SyncStatus = Literal["Synced", "OutOfSync", "Unknown"]


def duration_seconds(value: str) -> float:
    """Seconds in a duration such as "5s", "3m" or "1h" (retry backoff)."""
    units = {"s": 1, "m": 60, "h": 3600}
    value = value.strip()
    if value and value[-1] in units:
        return float(value[:-1]) * units[value[-1]]
    return float(value or 0)
