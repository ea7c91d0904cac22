"""Open or update the one pull request from an update branch, on GitHub or Gitea.

``ensure`` looks for an open pull request from the head branch to the base
branch; it updates its title and description when there is one and opens
one otherwise. Two writers racing to open it both end with the same
request: the host refuses the second create (GitHub 422, Gitea 409 when it
notices) and the loser looks again and updates the winner's. The requests themselves are
built by ``tether.engine.images.pullrequest``. Gitea does not refuse a
create racing another, so a writer that just opened one looks again and,
when an older one is open, closes its own: the oldest always wins. Errors name the step, the
HTTP status and the host's short message, never the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tether.adapters.forge.errors import host_message
from tether.engine.images import pullrequest as model

TIMEOUT = 10.0


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
    found = await _open(client, t)
    if not found:
        response = await _call(
            client, "POST", t.pulls_url, t, "open", json=model.create_body(t, title, body)
        )
        if response.status_code in (200, 201):
            mine = _opened(response.json(), created=True)
            return await _keep_oldest(client, t, mine, title, body)
        if not model.is_duplicate(response.status_code):
            raise ForgeApiError(_failure("open", response, t))
        found = await _open(client, t)
        if not found:
            raise ForgeApiError(_failure("open", response, t))
    return await _update(client, t, int(found[0]["number"]), title, body)


async def _keep_oldest(
    client: httpx.AsyncClient, t: model.Target, mine: Opened, title: str, body: str
) -> Opened:
    """After a create raced another: close ours if an older one is open, and update that."""
    found = await _open(client, t)
    oldest = int(found[0]["number"]) if found else mine.number
    if oldest >= mine.number:
        return mine
    url = f"{t.pulls_url}/{mine.number}"
    response = await _call(client, "PATCH", url, t, "close", json=model.close_body())
    if response.status_code not in (200, 201):
        raise ForgeApiError(_failure(f"close duplicate #{mine.number}", response, t))
    return await _update(client, t, oldest, title, body)


async def _update(
    client: httpx.AsyncClient, t: model.Target, number: int, title: str, body: str
) -> Opened:
    url = f"{t.pulls_url}/{number}"
    json = model.update_body(title, body)
    response = await _call(client, "PATCH", url, t, "update", json=json)
    if response.status_code not in (200, 201):
        raise ForgeApiError(_failure(f"update #{number}", response, t))
    return _opened(response.json(), created=False)


async def _open(client: httpx.AsyncClient, t: model.Target) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in range(1, model.MAX_PAGES + 1):
        response = await _call(client, "GET", model.list_url(t, page), t, "list")
        if response.status_code != 200:
            raise ForgeApiError(_failure("list", response, t))
        pulls = response.json()
        found.extend(model.open_matching(pulls, t))
        if not isinstance(pulls, list) or len(pulls) < model.PAGE_SIZE:
            break
    return sorted(found, key=lambda p: int(p["number"]))


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
    message = host_message(response, t.token)
    return f"{text}: {message}" if message else text
