"""The Docker Registry v2 login dance, shared by the login check and the pull check.

A registry either takes Basic auth on every request (htpasswd, Harbor, ECR) or
answers 401 with ``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` and
wants a short-lived token from that realm first (Docker Hub, GHCR, Quay). Both
callers need the same steps, so they live here once.
"""

from __future__ import annotations

import ipaddress
import re

import httpx

from tether.engine.registry.spec import registry_matches

Creds = tuple[str, str]

_PARAM = re.compile(r'(\w+)="([^"]*)"')


def default_scheme(host: str) -> str:
    """Plain HTTP for loopback registries (as container runtimes allow), HTTPS otherwise."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]")
    if name == "localhost":
        return "http"
    try:
        return "http" if ipaddress.ip_address(name).is_loopback else "https"
    except ValueError:
        return "https"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x",service="y"`` -> ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_PARAM.findall(rest))


def registry_error(response: httpx.Response) -> str:
    """The registry's own error text, e.g. "unauthorized: authentication required"."""
    try:
        errors = response.json().get("errors") or []
        first = errors[0]
        code = str(first.get("code", "")).lower().replace("_", " ")
        return f"{code}: {first.get('message', '')}".strip(": ")
    except (ValueError, AttributeError, IndexError, TypeError):
        return f"{response.status_code} {response.reason_phrase}".strip()


def authorized_get(
    client: httpx.Client,
    url: str,
    creds: Creds | None,
    *,
    scope: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """GET ``url`` with Basic auth, doing the bearer-token exchange if challenged."""
    auth = httpx.BasicAuth(*creds) if creds else None
    response = client.get(url, auth=auth, headers=headers)
    if response.status_code != 401:
        return response
    scheme, params = parse_challenge(response.headers.get("www-authenticate", ""))
    if scheme != "bearer" or "realm" not in params:
        return response
    query = {k: v for k, v in params.items() if k in ("service", "scope")}
    if scope and "scope" not in query:
        query["scope"] = scope
    token_response = client.get(params["realm"], params=query, auth=auth)
    if token_response.status_code != 200:
        return token_response
    try:
        body = token_response.json()
        token = body.get("token") or body.get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        return token_response
    return client.get(url, headers={**(headers or {}), "Authorization": f"Bearer {token}"})


def best_auth_key(keys: list[str], host: str, image: str = "") -> str | None:
    """The most specific auth key matching the image (or host), preferred as kubelet does."""
    target = image if image.startswith(host + "/") else host

    def matches(key: str) -> bool:
        pattern = key.removeprefix("https://").removeprefix("http://").rstrip("/")
        return registry_matches(pattern, target) or registry_matches(pattern, host)

    def specificity(key: str) -> tuple[bool, int, int]:
        bare = key.removeprefix("https://").removeprefix("http://").rstrip("/")
        return (bare != host, key.count("*") + key.count("?"), -len(key))

    return min((k for k in keys if matches(k)), key=specificity, default=None)
