"""What to render: the Application's source spec, parsed and checked once.

The spec arrives as the camelCase mapping of the Application resource (Argo CD
compatible: ``path``, ``directory``, ``kustomize``, ``helm``); parsing it into
frozen dataclasses catches a wrongly typed option with a message naming the
field, before any tool runs, and gives the render cache a stable hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tether.adapters.render.errors import RenderError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
Kind = Literal["directory", "kustomize", "helm"]


@dataclass(frozen=True)
class JsonnetVar:
    name: str
    value: str
    code: bool = False


@dataclass(frozen=True)
class JsonnetOptions:
    libs: tuple[str, ...] = ()
    ext_vars: tuple[JsonnetVar, ...] = ()
    tlas: tuple[JsonnetVar, ...] = ()


@dataclass(frozen=True)
class DirectoryOptions:
    recurse: bool = False
    include: str = "*"
    exclude: str = ""
    jsonnet: JsonnetOptions = field(default_factory=JsonnetOptions)


@dataclass(frozen=True)
class KustomizeOptions:
    name_prefix: str = ""
    name_suffix: str = ""
    images: tuple[str, ...] = ()
    common_labels: tuple[tuple[str, str], ...] = ()
    common_annotations: tuple[tuple[str, str], ...] = ()

    @property
    def needs_overlay(self) -> bool:
        return bool(
            self.name_prefix
            or self.name_suffix
            or self.images
            or self.common_labels
            or self.common_annotations
        )


@dataclass(frozen=True)
class HelmParameter:
    name: str
    value: str
    force_string: bool = False


@dataclass(frozen=True)
class HelmOptions:
    release_name: str = ""
    value_files: tuple[str, ...] = ()
    values: str = ""
    parameters: tuple[HelmParameter, ...] = ()
    skip_crds: bool = False
    ignore_missing_value_files: bool = False
    kube_version: str = ""
    api_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderSource:
    """A parsed source spec; ``kind`` is None until detected from the files."""

    path: str = ""
    kind: Kind | None = None
    directory: DirectoryOptions = field(default_factory=DirectoryOptions)
    kustomize: KustomizeOptions = field(default_factory=KustomizeOptions)
    helm: HelmOptions = field(default_factory=HelmOptions)

    def options_hash(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


def _str(spec: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = spec.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise RenderError(f"source.{where}.{key} must be a string")
    return str(value)


def _bool(spec: Mapping[str, Any], key: str, where: str) -> bool:
    value = spec.get(key, False)
    if not isinstance(value, bool):
        raise RenderError(f"source.{where}.{key} must be true or false")
    return value


def _strings(spec: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = spec.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RenderError(f"source.{where}.{key} must be a list of strings")
    return tuple(value)


def _pairs(spec: Mapping[str, Any], key: str, where: str) -> tuple[tuple[str, str], ...]:
    value = spec.get(key) or {}
    if not isinstance(value, Mapping):
        raise RenderError(f"source.{where}.{key} must be a mapping of strings")
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))


def _section(spec: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RenderError(f"source.{key} must be a mapping")
    return value


def _jsonnet_vars(spec: Mapping[str, Any], key: str) -> tuple[JsonnetVar, ...]:
    out: list[JsonnetVar] = []
    for number, raw in enumerate(spec.get(key) or [], start=1):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
            raise RenderError(f"source.directory.jsonnet.{key}[{number}] needs a name")
        value = raw.get("value", "")
        code = _bool(raw, "code", f"directory.jsonnet.{key}")
        out.append(JsonnetVar(raw["name"], "" if value is None else str(value), code))
    return tuple(out)


def _jsonnet(spec: Mapping[str, Any]) -> JsonnetOptions:
    return JsonnetOptions(
        libs=_strings(spec, "libs", "directory.jsonnet"),
        ext_vars=_jsonnet_vars(spec, "extVars"),
        tlas=_jsonnet_vars(spec, "tlas"),
    )


def _helm(spec: Mapping[str, Any]) -> HelmOptions:
    params: list[HelmParameter] = []
    for number, raw in enumerate(spec.get("parameters") or [], start=1):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
            raise RenderError(f"source.helm.parameters[{number}] needs a name")
        value = raw.get("value", "")
        params.append(
            HelmParameter(
                raw["name"],
                "" if value is None else str(value),
                _bool(raw, "forceString", "helm.parameters"),
            )
        )
    values = spec.get("values") or ""
    if spec.get("valuesObject") is not None:
        if not isinstance(spec["valuesObject"], Mapping):
            raise RenderError("source.helm.valuesObject must be a mapping")
        values = json.dumps(spec["valuesObject"])
    if not isinstance(values, str):
        values = json.dumps(values) if isinstance(values, Mapping) else ""
    return HelmOptions(
        release_name=_str(spec, "releaseName", "helm"),
        value_files=_strings(spec, "valueFiles", "helm"),
        values=values,
        parameters=tuple(params),
        skip_crds=_bool(spec, "skipCrds", "helm"),
        ignore_missing_value_files=_bool(spec, "ignoreMissingValueFiles", "helm"),
        kube_version=_str(spec, "kubeVersion", "helm"),
        api_versions=_strings(spec, "apiVersions", "helm"),
    )


def parse_source(spec: Mapping[str, Any] | RenderSource) -> RenderSource:
    """The spec as a RenderSource; a ``directory``, ``kustomize`` or ``helm`` key sets the kind."""
    if isinstance(spec, RenderSource):
        return spec
    kind: Kind | None = None
    directory = _section(spec, "directory")
    kustomize = _section(spec, "kustomize")
    helm = _section(spec, "helm")
    chosen = [
        name
        for name, sec in (("directory", directory), ("kustomize", kustomize), ("helm", helm))
        if sec is not None
    ]
    if len(chosen) > 1:
        raise RenderError(f"source sets both {chosen[0]} and {chosen[1]}: choose one")
    if chosen:
        kind = chosen[0]  # type: ignore[assignment]
    d, k = directory or {}, kustomize or {}
    return RenderSource(
        path=_str(spec, "path", "path") if "path" in spec else "",
        kind=kind,
        directory=DirectoryOptions(
            recurse=_bool(d, "recurse", "directory"),
            include=_str(d, "include", "directory", "*") or "*",
            exclude=_str(d, "exclude", "directory"),
            jsonnet=_jsonnet(_section(d, "jsonnet") or {}),
        ),
        kustomize=KustomizeOptions(
            name_prefix=_str(k, "namePrefix", "kustomize"),
            name_suffix=_str(k, "nameSuffix", "kustomize"),
            images=_strings(k, "images", "kustomize"),
            common_labels=_pairs(k, "commonLabels", "kustomize"),
            common_annotations=_pairs(k, "commonAnnotations", "kustomize"),
        ),
        helm=_helm(helm or {}),
    )


def detect_kind(source: RenderSource, names_in_path: set[str]) -> Kind:
    """Explicit choice first, then kustomization file, then Chart.yaml, else a directory."""
    if source.kind is not None:
        return source.kind
    if names_in_path & set(KUSTOMIZATION_FILES):
        return "kustomize"
    if "Chart.yaml" in names_in_path:
        return "helm"
    return "directory"
