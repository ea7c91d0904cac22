"""Does this login work? ``GET /v2/`` against the registry, as ``docker login`` does.

Used after every refresh (a fresh token that the registry rejects is worse than
a stale one we know about) and by ``tether registry check``. The message never
contains the password; it is the registry's own error or a connection error.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from tether.adapters.registry._http import authorized_get, default_scheme, registry_error


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    status_code: int
    message: str


def check_registry(
    host: str,
    username: str,
    password: str,
    *,
    scheme: str | None = None,
    verify: bool | str = True,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> CheckResult:
    """Log in to ``host`` (``host[:port]``) with the given credentials.

    ``scheme`` defaults to http for loopback hosts and https otherwise; ``verify`` is
    httpx's: False, True, or a CA bundle path.
    """
    url = f"{scheme or default_scheme(host)}://{host}/v2/"
    creds = (username, password) if username or password else None
    try:
        with httpx.Client(verify=verify, timeout=timeout, transport=transport) as client:
            response = authorized_get(client, url, creds)
    except httpx.TimeoutException:
        return CheckResult(False, 0, f"timed out connecting to {host}")
    except httpx.HTTPError as exc:
        return CheckResult(False, 0, f"cannot reach {host}: {type(exc).__name__}: {exc}")
    if response.status_code == 200:
        return CheckResult(True, 200, f"login to {host} succeeded")
    return CheckResult(False, response.status_code, registry_error(response))
