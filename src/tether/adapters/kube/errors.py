"""Kubernetes API errors as a small class tree.

ApiError            any non-2xx answer (status, reason, message)
+-- NotFound        404
+-- Conflict        409 (also AlreadyExists)
+-- Gone            410: a watch's resourceVersion is too old, relist
+-- Forbidden       403: RBAC denied, or a quota/admission refusal
+-- Invalid         422: a field the API server rejected (e.g. immutable)
UnknownKind         the cluster serves no resource for an apiVersion/kind
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} ({self.status} {self.reason})"


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class Gone(ApiError):
    pass


class Forbidden(ApiError):
    pass


class Invalid(ApiError):
    pass


class UnknownKind(ApiError):
    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(
            404,
            "NotFound",
            f'no matches for kind "{kind}" in version "{api_version}": '
            "the cluster serves no such resource (is its CRD installed?)",
        )
        self.api_version = api_version
        self.kind = kind


_BY_STATUS: dict[int, type[ApiError]] = {
    404: NotFound,
    409: Conflict,
    410: Gone,
    403: Forbidden,
    422: Invalid,
}


def from_status(status: int, body: Any) -> ApiError:
    if isinstance(body, dict) and body.get("kind") == "Status":
        reason = str(body.get("reason") or "")
        message = str(body.get("message") or "")
        details = body.get("details")
    else:
        reason, message, details = "", str(body)[:500], None
    return _BY_STATUS.get(status, ApiError)(status, reason or str(status), message, details)
