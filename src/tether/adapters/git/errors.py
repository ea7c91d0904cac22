"""Errors raised by the Git source, worded for the person who owns the repository.

Every message names the repository by a URL stripped of userinfo, and any
known secret is scrubbed from text that came from libgit2, because these
messages end up in Application status, events and logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tether.adapters.git import timeouts
from tether.engine.credentials import strip_userinfo

_HTTP_REASONS = {
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
}


class GitError(Exception):
    """A Git operation failed; the message is safe to show to users."""


class RevisionNotFoundError(GitError):
    """A branch, tag or commit does not exist in the repository."""


class PathNotFoundError(GitError):
    """A path does not exist in the tree of a commit."""


class HostKeyError(GitError):
    """An SSH server's host key is unknown or does not match known_hosts."""


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove userinfo from any URL in ``text`` and every given secret value."""
    text = re.sub(
        r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]+", lambda m: strip_userinfo(m.group(0)), text
    )
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def describe_transport_failure(detail: str) -> str:
    """Turn libgit2's wording into a short reason ("401 Unauthorized", ...)."""
    lowered = detail.lower()
    if "timed out" in lowered or "temporarily unavailable" in lowered:
        if "connect" in lowered and "socket" not in lowered:
            return f"timed out connecting (connect timeout {timeouts.connect_timeout():g}s)"
        return f"timed out: the server sent nothing for {timeouts.idle_timeout():g}s (idle timeout)"
    status = re.search(r"status code:?\s*(\d{3})", lowered)
    if status:
        code = int(status.group(1))
        return _HTTP_REASONS.get(code, f"HTTP {code}")
    if "authentication" in lowered or ("auth" in lowered and "replays" in lowered):
        return "401 Unauthorized (authentication failed)"
    if "connection refused" in lowered or "failed to connect" in lowered:
        return "connection refused"
    if "could not resolve" in lowered or "failed to resolve" in lowered:
        return "host not found"
    return detail.strip().rstrip(".")
