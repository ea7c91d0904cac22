"""Secret masking for everything the API sends.

The API shows live manifests to people with read-only tokens; those people
must not learn credentials. Rather than trusting every route to remember,
the JSON response class runs each body through ``mask``: any ``v1 Secret``
found at any depth has its ``data``/``stringData`` values replaced, and the
``last-applied-configuration`` annotation (a full copy of the object, Secret
values included) is dropped from every object. Then ``view`` strips URL
userinfo for everyone and masks Helm values for every caller below admin
(``tether.engine.redact``); a response with no known caller is redacted.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from tether.api.auth import Principal, current_principal
from tether.engine import redact

MASK = "++++++++"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _is_secret(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == "Secret" and obj.get("apiVersion") in ("v1", None, "")


def mask(value: Any) -> Any:
    """A copy of ``value`` with Secret values and last-applied annotations removed."""
    if isinstance(value, list):
        return [mask(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: mask(item) for key, item in value.items()}
    metadata = out.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("annotations"), dict):
        annotations = {k: v for k, v in metadata["annotations"].items() if k != LAST_APPLIED}
        out["metadata"] = {**metadata, "annotations": annotations}
    if _is_secret(out):
        for field in ("data", "stringData"):
            if isinstance(out.get(field), dict):
                out[field] = dict.fromkeys(out[field], MASK)
    return out


def view(value: Any, principal: Principal | None) -> Any:
    """What ``principal`` may see of ``value``: Secrets masked, credentials redacted."""
    keep_helm = principal is not None and principal.is_admin
    return redact.redact(mask(value), keep_helm=keep_helm)


class MaskedJSONResponse(JSONResponse):
    """The API's default response class: masks the body for the caller before encoding it."""

    def render(self, content: Any) -> bytes:
        return super().render(view(content, current_principal.get()))
