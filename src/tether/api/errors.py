"""One error shape for every failure: ``{"error": "<what went wrong and what to do>"}``.

Clients (the UI, scripts, curl users) read a single field; each message names
the thing to fix. Domain errors from the control plane map to HTTP codes here
so routes can simply let them propagate. Messages are scrubbed of URL
userinfo (a Git error quotes the URL it failed on), and an unknown app and an
app hidden from a project token get the very same 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tether.api.static import Fallback
from tether.controller.service import ActionRefused, AppNotFound
from tether.engine.redact import scrub_text


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": scrub_text(message)}, status_code=status, headers=headers)


def describe_validation(errors: list[Any]) -> str:
    """'body.prune: Input should be a valid boolean; query.kind: Field required'."""
    parts = []
    for err in errors:
        if err.get("type") == "json_invalid":
            return "invalid request: the body is not valid JSON"
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        if err.get("type") == "extra_forbidden":
            msg = "unknown option"
        elif err.get("type") == "missing":
            msg = "required"
        else:
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "invalid request: " + "; ".join(parts)


def install(app: FastAPI, not_found: Fallback | None = None) -> None:
    """Error handlers; ``not_found`` may answer unmatched GETs first (the UI's pages)."""

    @app.exception_handler(AppNotFound)
    async def _not_found(request: Request, exc: AppNotFound) -> JSONResponse:
        text = str(exc.args[0]) if exc.args else ""
        if "is not part of application" in text:  # a visible app, an object it does not have
            return error(404, text)
        name = str(request.path_params.get("name", text or "?"))
        return error(404, f"no application named {name!r}; list them with GET /api/v1/apps")

    @app.exception_handler(ActionRefused)
    async def _refused(_: Request, exc: ActionRefused) -> JSONResponse:
        return error(409, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        fields = [".".join(str(p) for p in e.get("loc", ()) if p != "body") for e in errors]
        body: dict[str, Any] = {"error": describe_validation(errors), "fields": fields}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and not_found is not None:
            page = await not_found(request)
            if page is not None:
                return page
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint; the API lives under /api/v1/"
        if exc.status_code == 405:
            message = "method not allowed on this endpoint"
        return error(exc.status_code, message, dict(exc.headers or {}))
