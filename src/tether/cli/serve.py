"""The HTTP surface of `tether controller --listen`: API, UI, webhook and metrics."""

from __future__ import annotations

from tether.controller.runtime import Controller
from tether.controller.server import Surface
from tether.controller.service import AppService


def surface_for(listen: str) -> Surface:
    async def serve(controller: Controller, service: AppService) -> None:
        from tether.cli.http import serve_http

        await serve_http(listen, controller, service)

    return serve
