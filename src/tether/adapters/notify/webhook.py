"""POST one notification body to a webhook URL; say whether it was delivered.

Generic webhooks and Slack-compatible incoming webhooks are both a JSON POST;
they differ only in the body (``tether.engine.notifications.payload``). The
error text names the status or the connection failure, never the URL (a
Slack incoming-webhook URL is itself a secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Delivery:
    ok: bool
    status: int
    error: str = ""


async def post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: Mapping[str, str]
) -> Delivery:
    try:
        response = await client.post(
            url, content=body, headers={"Content-Type": "application/json", **headers}
        )
    except httpx.TimeoutException:
        return Delivery(False, 0, "timed out")
    except httpx.HTTPError as exc:
        return Delivery(False, 0, f"cannot connect ({type(exc).__name__})")
    if 200 <= response.status_code < 300:
        return Delivery(True, response.status_code)
    return Delivery(False, response.status_code, f"HTTP {response.status_code}")
