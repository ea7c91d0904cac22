"""Serves the built web UI (``src/tether/web/dist``) from the API process.

One process, one port: the UI needs no separate server or CORS setup. The UI
is a single-page app, so any unknown GET path outside the API gets
``index.html`` and the browser-side router takes over. It is wired as the
404 fallback rather than a catch-all route, so routes added to the app later
(the controller adds its webhook) still win. Hashed assets are cached for
good; ``index.html`` never is, so an upgrade shows at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse, Response

DEFAULT_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
RESERVED = ("/api/", "/metrics", "/healthz", "/readyz", "/openapi.json", "/docs", "/redoc")
INDEX_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Tether</title>
<body style="font-family:system-ui;max-width:40rem;margin:4rem auto;line-height:1.5">
<h1>Tether</h1><p>The web UI is not built in this installation. Build it with
<code>make web</code> (or <code>bash scripts/build-web.sh</code>) and restart the controller.
The HTTP API under /api/v1/ works without it.</p></body>"""

Fallback = Callable[[Request], Awaitable[Response | None]]


def ui_fallback(dist: Path | None = None) -> Fallback:
    """The handler for GET requests no route matched: a UI file, or None (a JSON 404)."""
    root = (dist or DEFAULT_DIST).resolve()

    async def serve(request: Request) -> Response | None:
        path = request.url.path
        if request.method != "GET" or path.startswith(RESERVED):
            return None
        index = root / "index.html"
        relative = path.lstrip("/")
        if not index.is_file():
            return (
                None
                if relative.startswith("assets/")
                else HTMLResponse(NOT_BUILT, headers=INDEX_HEADERS)
            )
        if relative:
            candidate = (root / relative).resolve()
            if candidate.is_file() and candidate.is_relative_to(root):
                immutable = relative.startswith("assets/")
                cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
                return FileResponse(candidate, headers={"Cache-Control": cache})
            if relative.startswith("assets/"):
                return None  # a stale hashed asset: a real 404, not the page
        return FileResponse(index, headers=INDEX_HEADERS)

    return serve
