"""Registry push webhooks: which image repositories just got a new tag.

A push announced by the registry makes the policies of that repository scan
at once instead of at their next interval. Three shapes are read:

* Docker Distribution (``registry`` notifications, also GitLab's and
  Harbor's "distribution" style): ``events[].action == "push"`` with
  ``target.repository`` and ``request.host``;
* Harbor: ``event_data.resources[].resource_url`` (``host/repo:tag``);
* Docker Hub: ``repository.repo_name`` (host ``docker.io``).

Registries do not sign their notifications; Distribution sends configured
headers, so the request must carry ``Authorization: Bearer <secret>`` (the
same secret as Git webhooks), compared in constant time. The answer is only
"scan now": a forged announcement cannot choose a tag, because the tag is
always read back from the registry with the policy's own credentials.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

from tether.engine.webhook import WebhookError


def _authorized(headers: Mapping[str, str], secret: str) -> bool:
    given = ""
    for key, value in headers.items():
        if key.lower() == "authorization":
            given = value.removeprefix("Bearer ").strip()
    return bool(secret) and hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), secret.encode("utf-8", "surrogateescape")
    )


def _strip_tag(reference: str) -> str:
    name = reference.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else name.split(":", 1)[0]


def parse(headers: Mapping[str, str], body: bytes, secret: str) -> list[str]:
    """Image repositories (``host/repository``) that were pushed to; [] for other events."""
    if not secret:
        raise WebhookError(403, "registry webhooks need a webhook secret")
    if not _authorized(headers, secret):
        raise WebhookError(401, "missing or wrong Authorization bearer secret")
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise WebhookError(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise WebhookError(400, "body is not a JSON object")
    found: list[str] = []
    for event in data.get("events") or []:
        if not isinstance(event, dict) or event.get("action") != "push":
            continue
        repo = (event.get("target") or {}).get("repository")
        host = (event.get("request") or {}).get("host")
        if repo and host:
            found.append(f"{str(host).lower()}/{repo}")
    for resource in (data.get("event_data") or {}).get("resources") or []:
        url = resource.get("resource_url") if isinstance(resource, dict) else None
        if url and "PUSH" in str(data.get("type", "")).upper():
            found.append(_strip_tag(str(url)))
    hub = (data.get("repository") or {}).get("repo_name") if "push_data" in data else None
    if hub:
        found.append(f"docker.io/{hub}" if "/" in str(hub) else f"docker.io/library/{hub}")
    return list(dict.fromkeys(found))
