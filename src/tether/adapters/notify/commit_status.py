"""Send a commit status to a Git host's API (GitHub, Gitea, GitLab).

The request is built by ``tether.engine.commit_status``; this only sends it
and says whether the host took it, as a ``webhook.Delivery`` so the
notifier retries and reports it like any other sink. The error text names
the HTTP status and the host's own short message (``Not Found``, ``sha does
not exist``), with the token scrubbed from it, never the token itself.
"""

from __future__ import annotations

import httpx

from tether.adapters.notify.webhook import Delivery
from tether.engine.commit_status import StatusRequest

_MESSAGE_MAX = 200


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
    text = f"HTTP {response.status_code}"
    try:
        data = response.json()
    except ValueError:
        return text
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, str) and message.strip():
        short = " ".join(message.split())[:_MESSAGE_MAX]
        if token:
            short = short.replace(token, "***")
        text += f": {short}"
    return text
