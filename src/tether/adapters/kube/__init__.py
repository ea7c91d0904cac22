"""The Kubernetes adapter: a JSON client, discovery, and a watch-based live cache."""

from tether.adapters.kube.client import KubeClient, WatchEvent
from tether.adapters.kube.discovery import ApiResource
from tether.adapters.kube.errors import (
    ApiError,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    UnknownKind,
)

__all__ = [
    "ApiError",
    "ApiResource",
    "Conflict",
    "Forbidden",
    "Gone",
    "Invalid",
    "KubeClient",
    "NotFound",
    "UnknownKind",
    "WatchEvent",
]
