"""Request-size limits, enforced while the body streams in.

Without a limit, anyone who can reach the port could make the server buffer
a body of any size (a 400 MiB POST took it from 67 to 870 MiB) before
anything looked at who sent it. ``BodyLimitMiddleware`` is the outermost
layer: a declared ``Content-Length`` over the limit is answered 413 at once
without reading a byte, and a chunked body is cut off at the limit. Limits
are per path prefix (the Git webhook has its own), the first match wins.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tether.api.auth import send_error

API_BODY_LIMIT = 64 * 1024
WEBHOOK_BODY_LIMIT = 1024 * 1024


def _too_large(limit: int) -> str:
    return f"request body too large: the limit here is {limit} bytes"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` at the limit; an HTTPException so FastAPI answers it as such."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit), headers={"Connection": "close"})


class BodyLimitMiddleware:
    """413 for bodies over the limit of the first matching ``(path prefix, bytes)``."""

    def __init__(self, app: ASGIApp, default: int, limits: Sequence[tuple[str, int]] = ()) -> None:
        self.app = app
        self.default = default
        self.limits = tuple(limits)

    def limit_for(self, path: str) -> int:
        return next((n for prefix, n in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope["path"]))
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_error(send, 400, "invalid Content-Length", {})
                    return
                if declared > limit:
                    await send_error(send, 413, _too_large(limit), {"Connection": "close"})
                    return
        received = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await send_error(send, 413, _too_large(limit), {"Connection": "close"})
