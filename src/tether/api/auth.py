"""Bearer-token authentication and the two roles, readonly and admin.

There is no anonymous access: the API shows live manifests and can roll out
code, so every request names a person (or robot) through a token. Tokens are
random strings that only their holder knows; the cluster keeps their SHA-256
in a Secret, so reading the Secret does not let anyone act as the holder.

``Auth`` keeps the table ``{sha256hex: (user, role)}`` in memory and refreshes
it through a loader (the controller wires it to the Secret) at most every few
seconds, and sooner when an unknown token shows up, so a token created with
``tether token create`` works within seconds without a restart.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
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

HOW_TO_GET_A_TOKEN = (
    "create a token with `tether token create NAME --role readonly` (or `--role admin` "
    "to sync and roll back) and send it as 'Authorization: Bearer <token>'"
)

TokenTable = Mapping[str, tuple[str, str]]
TokenLoader = Callable[[], Awaitable[TokenTable]]


def hash_token(token: str) -> str:
    """The form a token is stored in: lowercase SHA-256 hex of its UTF-8 bytes."""
    return hashlib.sha256(token.strip().encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits), shown once to its holder and never stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_secret_entry(user: str, role: str, token: str) -> tuple[str, str]:
    """One Secret ``data`` entry for a token: key = user, value = base64 of ``role:sha256hex``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    value = f"{role}:{hash_token(token)}"
    return user, base64.b64encode(value.encode()).decode()


def tokens_from_secret(secret: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """The token table held in a Secret written with ``token_secret_entry``; bad entries skipped."""
    table: dict[str, tuple[str, str]] = {}
    for user, encoded in (secret.get("data") or {}).items():
        try:
            role, _, digest = base64.b64decode(str(encoded)).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            continue
        if role in ROLES and len(digest) == 64:
            table[digest.lower()] = (str(user), role)
    return table


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's user name and role."""

    user: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


class Auth:
    """Maps presented tokens to principals using a hashed token table."""

    def __init__(
        self,
        tokens: TokenTable | None = None,
        loader: TokenLoader | None = None,
        *,
        refresh_seconds: float = 30.0,
        miss_refresh_seconds: float = 2.0,
    ) -> None:
        self._table: dict[str, tuple[str, str]] = {k.lower(): v for k, v in (tokens or {}).items()}
        self._loader = loader
        self._refresh_seconds = refresh_seconds
        self._miss_refresh_seconds = miss_refresh_seconds
        self._loaded_at = 0.0 if loader else time.monotonic()
        self._lock = asyncio.Lock()

    async def reload(self) -> None:
        """Reads the table from the loader now (a failed load keeps the previous table)."""
        if self._loader is None:
            return
        async with self._lock:
            try:
                table = await self._loader()
            except Exception:  # the Secret may be briefly unreadable; keep serving
                self._loaded_at = time.monotonic()
                return
            self._table = {k.lower(): (u, r) for k, (u, r) in table.items() if r in ROLES}
            self._loaded_at = time.monotonic()

    async def authenticate(self, token: str | None) -> Principal | None:
        if not token:
            return None
        digest = hash_token(token)
        age = time.monotonic() - self._loaded_at
        if self._loader is not None and age > self._refresh_seconds:
            await self.reload()
        entry = self._table.get(digest)
        if entry is None and self._loader is not None and age > self._miss_refresh_seconds:
            await self.reload()
            entry = self._table.get(digest)
        return Principal(*entry) if entry else None


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def _principal(request: Request, token: str | None) -> Principal:
    auth: Auth = request.app.state.auth
    principal = await auth.authenticate(token)
    if principal is None:
        problem = "invalid or expired token" if token else "no token"
        raise HTTPException(
            status_code=401,
            detail=f"{problem}: {HOW_TO_GET_A_TOKEN}",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


async def require_reader(request: Request) -> Principal:
    return await _principal(request, bearer_token(request))


async def require_admin(request: Request) -> Principal:
    principal = await require_reader(request)
    if not principal.is_admin:
        raise HTTPException(
            status_code=403,
            detail=(
                f"user {principal.user!r} has role {principal.role}, which can only read; "
                "this action needs an admin token (`tether token create NAME --role admin`)"
            ),
        )
    return principal


Reader = Annotated[Principal, Depends(require_reader)]
Admin = Annotated[Principal, Depends(require_admin)]


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
