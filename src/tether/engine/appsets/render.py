"""From parameter sets to the Applications an ApplicationSet wants, checked before any write.

Every generated app is rendered, converted and validated first; one bad app
fails the whole set (an error naming the field and the parameter set), so a
typo in a template never deletes the apps the other parameter sets still
describe.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tether.engine import application
from tether.engine.appsets import template
from tether.engine.appsets.generators import Params
from tether.engine.appsets.spec import SET_LABEL, ApplicationSetSpec

_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class RenderError(ValueError):
    """The template does not give valid Applications; the message names the field."""


def applications(
    set_name: str, spec: ApplicationSetSpec, param_sets: list[Params], namespace: str
) -> list[dict[str, Any]]:
    """The Applications ``spec`` generates, in parameter order; raises RenderError."""
    raw = spec.template.model_dump(by_alias=True, exclude_defaults=True)
    raw["metadata"].pop("namespace", None)
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, params in enumerate(param_sets):
        label = f"parameter set {index} ({_describe(params)})"
        try:
            rendered = template.render_tree(
                copy.deepcopy(raw), params, go=spec.go_template, where="spec.template"
            )
        except template.TemplateError as exc:
            raise RenderError(f"{exc} [{label}]") from None
        meta = rendered["metadata"]
        name = str(meta["name"])
        if not _DNS_NAME.match(name):
            raise RenderError(
                f"spec.template.metadata.name: {name!r} is not a valid Application name "
                f"(lowercase letters, digits, '-' and '.') [{label}]"
            )
        if name in seen:
            raise RenderError(
                f"spec.template.metadata.name: parameter sets {seen[name]} and {index} both "
                f"generate Application {name!r}"
            )
        seen[name] = index
        try:
            converted = application.from_argocd(
                {"metadata": {"name": name}, "spec": rendered["spec"]}, namespace
            )
        except application.SpecError as exc:
            message = str(exc).split(": ", 1)[-1]
            raise RenderError(f"spec.template.spec: {message} [{label}]") from None
        if converted["spec"].get("project", "default") != spec.project:
            raise RenderError(f"spec.template.spec.project changed while rendering [{label}]")
        converted["spec"]["project"] = spec.project
        labels = {**meta.get("labels", {}), SET_LABEL: set_name}
        converted["metadata"]["labels"] = labels
        if meta.get("annotations"):
            converted["metadata"]["annotations"] = dict(meta["annotations"])
        # Template finalizers (Argo CD's resources-finalizer) are not copied: whether
        # deleting a generated app removes its resources is preserveResourcesOnDeletion.
        out.append(converted)
    return out


def _describe(params: Params) -> str:
    flat = []
    for key, value in params.items():
        if isinstance(value, dict):
            inner = value.get("path")
            if isinstance(inner, str):
                flat.append(f"{key}.path={inner}")
            continue
        if isinstance(value, (str, int, float, bool)):
            flat.append(f"{key}={value}")
        if len(flat) == 3:
            break
    return ", ".join(flat) or "no parameters"
