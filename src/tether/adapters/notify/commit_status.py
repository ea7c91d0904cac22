"""Send a commit status to a Git host's API (GitHub, Gitea, GitLab).

The request is built by ``tether.engine.commit_status``; this only sends it
and says whether the host took it, as a ``webhook.Delivery`` so the
notifier retries and reports it like any other sink. The error text names
the HTTP status and the host's own short message (``Not Found``, ``sha does
not exist``), with the token scrubbed from it, never the token itself.
"""

from __future__ import annotations

import httpx

from tether.adapters.forge.errors import host_message
from tether.adapters.notify.webhook import Delivery
from tether.engine.commit_status import StatusRequest


async def send(client: httpx.AsyncClient, request: StatusRequest, token: str) -> Delivery:
    try:
        response = await client.post(
            request.url,
            content=request.body,
            headers={"Content-Type": "application/json", **request.headers},
        )
    except httpx.TimeoutException:
        return Delivery(False, 0, "timed out")
    except httpx.HTTPError as exc:
        return Delivery(False, 0, f"cannot connect ({type(exc).__name__})")
    if 200 <= response.status_code < 300:
        return Delivery(True, response.status_code)
    return Delivery(False, response.status_code, _error(response, token))


def _error(response: httpx.Response, token: str) -> str:
    message = host_message(response, token)
    return f"HTTP {response.status_code}: {message}" if message else f"HTTP {response.status_code}"
