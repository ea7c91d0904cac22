"""Git push webhooks from GitHub, GitLab, Gitea and Bitbucket: verify, then name the repo.

Pure functions over headers and body. A push is accepted only with a valid
signature (HMAC-SHA256 of the body for GitHub, Gitea and Bitbucket; the
shared token for GitLab), so anyone who can reach the endpoint cannot make
Tether fetch at will. Signatures are compared as bytes: a header may carry
any characters, and ``hmac.compare_digest`` refuses non-ASCII ``str``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class WebhookError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Push:
    provider: str
    urls: tuple[str, ...]
    ref: str


def _same(expected: str, presented: str) -> bool:
    """Constant-time comparison of the UTF-8 bytes (any header value compares, unequal)."""
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogateescape"), presented.encode("utf-8", "surrogateescape")
    )


def _hmac_ok(secret: str, body: bytes, signature: str) -> bool:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return _same(digest, signature.removeprefix("sha256="))


def parse(headers: Mapping[str, str], body: bytes, secret: str) -> Push | None:
    """The push this request announces; None for other events (ping, issues...)."""
    h = {k.lower(): v for k, v in headers.items()}
    if not secret:
        raise WebhookError(503, "webhook secret not configured: set TETHER_WEBHOOK_SECRET")
    if "x-github-event" in h:
        provider, event, ok = (
            "github",
            h["x-github-event"],
            _hmac_ok(secret, body, h.get("x-hub-signature-256", "")),
        )
        is_push = event == "push"
    elif "x-gitea-event" in h:
        provider, event, ok = (
            "gitea",
            h["x-gitea-event"],
            _hmac_ok(secret, body, h.get("x-gitea-signature", "")),
        )
        is_push = event == "push"
    elif "x-gitlab-event" in h:
        provider, event = "gitlab", h["x-gitlab-event"]
        ok = _same(secret, h.get("x-gitlab-token", ""))
        is_push = event in ("Push Hook", "Tag Push Hook")
    elif "x-event-key" in h:
        provider, event, ok = (
            "bitbucket",
            h["x-event-key"],
            _hmac_ok(secret, body, h.get("x-hub-signature", "")),
        )
        is_push = event in ("repo:push", "repo:refs_changed")
    else:
        raise WebhookError(400, "not a GitHub, GitLab, Gitea or Bitbucket webhook")
    if not ok:
        raise WebhookError(401, f"{provider} webhook signature does not match the secret")
    if not is_push:
        return None
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookError(400, f"{provider} webhook body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookError(400, f"{provider} webhook body is not a JSON object")
    return Push(provider, _urls(provider, payload), _ref(payload))


def _field(value: Any, key: str) -> Any:
    """``value[key]`` when ``value`` is a mapping: a payload may have any shape."""
    return value.get(key) if isinstance(value, dict) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _urls(provider: str, payload: dict[str, Any]) -> tuple[str, ...]:
    found: list[Any] = []
    repo = _field(payload, "repository")
    if provider in ("github", "gitea"):
        found += [_field(repo, k) for k in ("clone_url", "html_url", "ssh_url", "git_url")]
    elif provider == "gitlab":
        project = _field(payload, "project")
        found += [_field(project, k) for k in ("git_http_url", "git_ssh_url", "web_url")]
    else:
        links = _field(repo, "links")
        found += [_field(clone, "href") for clone in _list(_field(links, "clone"))]
        html = _field(links, "html") or _field(links, "self")
        found += [_field(h, "href") for h in (html if isinstance(html, list) else [html])]
    return tuple(u for u in found if isinstance(u, str) and u)


def _ref(payload: dict[str, Any]) -> str:
    if isinstance(payload.get("ref"), str):
        return str(payload["ref"])
    changes = _list(payload.get("changes"))
    ref = _field(_field(changes[0], "ref") if changes else None, "id")
    return ref if isinstance(ref, str) else ""


def sign(secret: str, body: bytes) -> str:
    """The GitHub/Gitea style signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
