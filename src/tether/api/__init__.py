"""The HTTP API and web UI server (a surface: it calls ``tether.controller``, never the reverse)."""

from tether.api.app import create_app
from tether.api.auth import ADMIN, READONLY, Auth, Principal, hash_token, new_token
from tether.api.routes_registry import RegistryService

__all__ = [
    "ADMIN",
    "READONLY",
    "Auth",
    "Principal",
    "RegistryService",
    "create_app",
    "hash_token",
    "new_token",
]
