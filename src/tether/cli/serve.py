"""The HTTP surface of `tether controller --listen`: API, UI, webhook and metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.controller.runtime import Controller
from tether.controller.server import Surface
from tether.controller.service import AppService

if TYPE_CHECKING:
    from tether.cli.http import HttpOptions


def surface_for(listen: str, options: HttpOptions | None = None) -> Surface:
    async def serve(controller: Controller, service: AppService) -> None:
        from tether.cli.http import serve_http

        await serve_http(listen, controller, service, options)

    return serve
