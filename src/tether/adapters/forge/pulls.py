"""Open or update the one pull request from an update branch, on GitHub or Gitea.

``ensure`` looks for an open pull request from the head branch to the base
branch; it updates its title and description when there is one and opens
one otherwise. Two writers racing to open it both end with the same
request: the host refuses the second create (Gitea 409, GitHub 422) and the
loser looks again and updates the winner's. The requests themselves are
built by ``tether.engine.images.pullrequest``. Errors name the step, the
HTTP status and the host's short message, never the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tether.engine.images import pullrequest as model

TIMEOUT = 10.0
_MESSAGE_MAX = 200


class ForgeApiError(RuntimeError):
    """A pull request could not be listed, opened or updated; the message says which and why."""


@dataclass(frozen=True)
class Opened:
    number: int
    url: str
    created: bool


async def ensure(
    t: model.Target, title: str, body: str, client: httpx.AsyncClient | None = None
) -> Opened:
    if client is None:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as own:
            return await ensure(t, title, body, own)
    found = await _find(client, t)
    if found is None:
        response = await _call(
            client, "POST", t.pulls_url, t, "open", json=model.create_body(t, title, body)
        )
        if response.status_code in (200, 201):
            return _opened(response.json(), created=True)
        if not model.is_duplicate(response.status_code):
            raise ForgeApiError(_failure("open", response, t))
        found = await _find(client, t)
        if found is None:
            raise ForgeApiError(_failure("open", response, t))
    number = int(found["number"])
    response = await _call(
        client, "PATCH", f"{t.pulls_url}/{number}", t, "update", json=model.update_body(title, body)
    )
    if response.status_code not in (200, 201):
        raise ForgeApiError(_failure(f"update #{number}", response, t))
    return _opened(response.json(), created=False)


async def _find(client: httpx.AsyncClient, t: model.Target) -> dict[str, Any] | None:
    for page in range(1, model.MAX_PAGES + 1):
        response = await _call(client, "GET", model.list_url(t, page), t, "list")
        if response.status_code != 200:
            raise ForgeApiError(_failure("list", response, t))
        pulls = response.json()
        found = model.find_open(pulls, t)
        if found is not None:
            return dict(found)
        if not isinstance(pulls, list) or len(pulls) < model.PAGE_SIZE:
            return None
    return None


async def _call(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    t: model.Target,
    step: str,
    json: dict[str, str] | None = None,
) -> httpx.Response:
    try:
        return await client.request(method, url, headers=t.headers, json=json)
    except httpx.TimeoutException:
        raise ForgeApiError(f"pull request {step} on {t.repo.path}: timed out") from None
    except httpx.HTTPError as exc:
        raise ForgeApiError(
            f"pull request {step} on {t.repo.path}: cannot connect ({type(exc).__name__})"
        ) from None


def _opened(data: Any, *, created: bool) -> Opened:
    if not isinstance(data, dict) or not isinstance(data.get("number"), int):
        raise ForgeApiError("the Git host answered without a pull request number")
    return Opened(int(data["number"]), str(data.get("html_url") or ""), created)


def _failure(step: str, response: httpx.Response, t: model.Target) -> str:
    text = f"pull request {step} on {t.repo.path}: HTTP {response.status_code}"
    try:
        data = response.json()
    except ValueError:
        return text
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, str) and message.strip():
        text += ": " + " ".join(message.split())[:_MESSAGE_MAX].replace(t.token, "***")
    return text
