"""Serves the built web UI (``src/tether/web/dist``) from the API process.

One process, one port: the UI needs no separate server or CORS setup. The UI
is a single-page app, so any unknown path outside the API gets
``index.html`` and the browser-side router takes over. Hashed assets are
cached for good; ``index.html`` never is, so an upgrade shows at once.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

DEFAULT_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
INDEX_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}
RESERVED = ("api/", "metrics", "healthz", "readyz", "openapi.json", "docs", "redoc")

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Tether</title>
<body style="font-family:system-ui;max-width:40rem;margin:4rem auto;line-height:1.5">
<h1>Tether</h1><p>The web UI is not built in this installation. Build it with
<code>make web</code> (or <code>bash scripts/build-web.sh</code>) and restart the controller.
The HTTP API works without it: see <a href="/docs">/docs</a>.</p></body>"""


def install(app: FastAPI, dist: Path | None = None) -> None:
    root = (dist or DEFAULT_DIST).resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def ui(path: str) -> Response:
        if path.startswith(RESERVED):
            raise HTTPException(404, "Not Found")
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT)
        if path:
            candidate = (root / path).resolve()
            if candidate.is_file() and candidate.is_relative_to(root):
                immutable = path.startswith("assets/")
                cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
                return FileResponse(candidate, headers={"Cache-Control": cache})
        return FileResponse(index, headers=INDEX_HEADERS)
