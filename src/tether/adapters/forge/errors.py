"""What a Git host's API said when it refused a request, safe to show.

GitHub, Gitea and GitLab answer an error with JSON carrying a short
``message`` (``Not Found``, ``sha does not exist``). It is kept to one line
and a bounded length, and the caller's token is scrubbed from it: a host may
echo what it was sent.
"""

from __future__ import annotations

import httpx

MESSAGE_MAX = 200


def host_message(response: httpx.Response, token: str) -> str:
    """The host's own short message in ``response``, token scrubbed; "" when it gave none."""
    try:
        data = response.json()
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str) or not message.strip():
        return ""
    short = " ".join(message.split())[:MESSAGE_MAX]
    return short.replace(token, "***") if token else short
