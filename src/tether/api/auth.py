"""Bearer-token authentication, the two roles (readonly, admin) and project scope.

There is no anonymous access: the API shows live manifests and can roll out
code, so every request names a person (or robot) through a token. Tokens are
random strings that only their holder knows; the cluster keeps their SHA-256
in a Secret, so reading the Secret does not let anyone act as the holder.

A token may be bound to a project: it then acts only on Applications whose
``spec.project`` is that project (see ``tether.api.scope``). A global token
(no project) sees every app.

``Auth`` keeps the table ``{sha256hex: Principal}`` in memory. The controller
follows the token Secret with a watch and hands every change to ``replace``,
so a revoked token stops working as soon as the API server reports the change;
while no watch is live, the table is re-read at most ``max_age`` seconds after
the previous read (default 1 s).

``AuthMiddleware`` authenticates before a route runs, so a request without a
valid token gets 401 (and a read-only token asking to act gets 403) before
any of its body is read or parsed.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, HTTPException, Request
from starlette.types import ASGIApp, Receive, Scope, Send

READONLY = "readonly"
ADMIN = "admin"
ROLES = (READONLY, ADMIN)
TOKEN_PREFIX = "tth_"
PROJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

HOW_TO_GET_A_TOKEN = (
    "create a token with `tether token create NAME --role readonly` (or `--role admin` "
    "to sync and roll back) and send it as 'Authorization: Bearer <token>'"
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's user name, role and, for a project token, its project."""

    user: str
    role: str
    project: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


TokenTable = Mapping[str, Principal]
TokenLoader = Callable[[], Awaitable[TokenTable]]

# The caller of the request being served; the response class reads it to decide what to hide.
current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "tether_principal", default=None
)


def hash_token(token: str) -> str:
    """The form a token is stored in: lowercase SHA-256 hex of its UTF-8 bytes."""
    return hashlib.sha256(token.strip().encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits), shown once to its holder and never stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_secret_entry(
    user: str, role: str, token: str, project: str | None = None
) -> tuple[str, str]:
    """One Secret ``data`` entry: key = user, value = base64 of ``role:sha256hex[:project]``.

    The project goes last, so entries written before projects existed still
    parse; a controller that predates projects reads a project entry as
    malformed and refuses the token rather than granting it every project.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if project is not None and not PROJECT_NAME.match(project):
        raise ValueError(f"project must be a lowercase DNS label, not {project!r}")
    value = f"{role}:{hash_token(token)}" + (f":{project}" if project else "")
    return user, base64.b64encode(value.encode()).decode()


def tokens_from_secret(secret: Mapping[str, Any]) -> dict[str, Principal]:
    """The token table held in a Secret written with ``token_secret_entry``; bad entries skipped."""
    table: dict[str, Principal] = {}
    for user, encoded in (secret.get("data") or {}).items():
        try:
            role, digest, *rest = base64.b64decode(str(encoded)).decode().split(":")
        except (ValueError, UnicodeDecodeError):
            continue
        project = rest[0] if len(rest) == 1 else None
        if role not in ROLES or len(digest) != 64 or len(rest) > 1:
            continue
        if rest and (project is None or not PROJECT_NAME.match(project)):
            continue
        table[digest.lower()] = Principal(str(user), role, project)
    return table


def _principal_of(entry: Principal | tuple[str, ...]) -> Principal:
    return entry if isinstance(entry, Principal) else Principal(*entry)


class Auth:
    """Maps presented tokens to principals using a hashed token table."""

    def __init__(
        self,
        tokens: Mapping[str, Principal | tuple[str, ...]] | None = None,
        loader: TokenLoader | None = None,
        *,
        max_age: float = 1.0,
    ) -> None:
        self._table = {k.lower(): _principal_of(v) for k, v in (tokens or {}).items()}
        self._loader = loader
        self._max_age = max_age
        self._loaded_at = 0.0 if loader else time.monotonic()
        self._followed = False
        self._lock = asyncio.Lock()

    def replace(self, table: TokenTable) -> None:
        """The current table, from a watch on the token Secret: used until ``unfollowed``."""
        self._table = {k.lower(): p for k, p in table.items() if p.role in ROLES}
        self._loaded_at = time.monotonic()
        self._followed = True

    def unfollowed(self) -> None:
        """The watch is down: fall back to re-reading the table every ``max_age`` seconds."""
        self._followed = False

    async def reload(self) -> None:
        """Reads the table from the loader now (a failed load keeps the previous table)."""
        if self._loader is None:
            return
        async with self._lock:
            if time.monotonic() - self._loaded_at < min(self._max_age, 0.05):
                return  # a request waiting on the lock: the load it waited for is fresh
            try:
                table = await self._loader()
            except Exception:  # the Secret may be briefly unreadable; keep serving
                self._loaded_at = time.monotonic()
                return
            self._table = {k.lower(): p for k, p in table.items() if p.role in ROLES}
            self._loaded_at = time.monotonic()

    async def authenticate(self, token: str | None) -> Principal | None:
        if not token:
            return None
        stale = time.monotonic() - self._loaded_at > self._max_age
        if self._loader is not None and not self._followed and stale:
            await self.reload()
        return self._table.get(hash_token(token))


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def bearer_token(request: Request) -> str | None:
    return token_from_headers(request.headers)


def unauthorized(token: str | None) -> tuple[int, str]:
    problem = "invalid, expired or revoked token" if token else "no token"
    return 401, f"{problem}: {HOW_TO_GET_A_TOKEN}"


def read_only(principal: Principal) -> tuple[int, str]:
    return 403, (
        f"user {principal.user!r} has role {principal.role}, which can only read; "
        "this action needs an admin token (`tether token create NAME --role admin`)"
    )


async def require_reader(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None:
        return principal
    token = bearer_token(request)
    auth: Auth = request.app.state.auth
    principal = await auth.authenticate(token)
    if principal is None:
        status, message = unauthorized(token)
        raise HTTPException(status, message, headers={"WWW-Authenticate": "Bearer"})
    return principal


async def require_admin(request: Request) -> Principal:
    principal = await require_reader(request)
    if not principal.is_admin:
        raise HTTPException(*read_only(principal))
    return principal


async def require_global(request: Request) -> Principal:
    """Cluster-wide data (metrics, registry credentials): not for project tokens."""
    principal = await require_reader(request)
    if principal.project is not None:
        raise HTTPException(
            403,
            f"user {principal.user!r} has a token for project {principal.project!r}; "
            "this shows cluster-wide data and needs a token without a project",
        )
    return principal


Reader = Annotated[Principal, Depends(require_reader)]
Admin = Annotated[Principal, Depends(require_admin)]
GlobalReader = Annotated[Principal, Depends(require_global)]


async def send_error(send: Send, status: int, message: str, headers: dict[str, str]) -> None:
    body = json.dumps({"error": message}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"cache-control", b"no-store"),
        *((k.lower().encode(), v.encode()) for k, v in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class AuthMiddleware:
    """Authenticates requests under ``prefixes`` before any route, body or parser runs.

    Unsafe methods (POST...) additionally need an admin token here, so a
    read-only token is refused with 403 before its body is looked at. The
    principal is put in the request state for the routes, and in
    ``current_principal`` for the response class.
    """

    def __init__(self, app: ASGIApp, auth: Auth, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.auth = auth
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        token = token_from_headers(headers)
        principal = await self.auth.authenticate(token)
        if principal is None:
            await send_error(send, *unauthorized(token), {"WWW-Authenticate": "Bearer"})
            return
        if scope["method"] not in SAFE_METHODS and not principal.is_admin:
            await send_error(send, *read_only(principal), {})
            return
        scope.setdefault("state", {})["principal"] = principal
        reset = current_principal.set(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            current_principal.reset(reset)


class QueryTokenMiddleware:
    """Turns ``?token=`` on stream URLs into an Authorization header.

    EventSource cannot send headers, so the UI puts its token in the query.
    The scope is changed in place, which also keeps the token out of the
    server's access log (uvicorn logs the path from this same scope).
    """

    def __init__(self, app: ASGIApp, prefix: str = "/api/v1/stream/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(self.prefix):
            pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), True)
            token = next((v for k, v in pairs if k == "token"), None)
            if token is not None:
                scope["query_string"] = urlencode(
                    [(k, v) for k, v in pairs if k != "token"]
                ).encode()
                headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
                scope["headers"] = [*headers, (b"authorization", f"Bearer {token}".encode())]
        await self.app(scope, receive, send)
