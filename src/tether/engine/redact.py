"""Credentials people write into an Application, removed before anyone else reads it.

An Application is readable by many (every API token, every stream, the
history, the events) but its author may have put a credential in it: a
``https://user:token@host/repo.git`` repository URL, a Helm ``parameters``
value or an inline ``values`` block holding a password. Nobody needs those to
read an app, so the surfaces and the controller pass what they show through
here first:

- ``strip_userinfo`` / ``scrub_text``: the ``user:password@`` part of every
  URL, also inside free text (a Git error message quotes the URL it failed
  on), is removed for everyone.
- ``redact``: a copy of any JSON-shaped value with every string scrubbed and,
  unless ``keep_helm`` (admins), every Helm ``parameters[].value``, ``values``
  and ``valuesObject`` replaced by ``MASK``, wherever a ``helm`` block appears
  (spec, history entries, operations). ``valueFiles`` are paths in the
  repository, not content, and stay readable.

Plain data in and out, no I/O.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "++++++++"

# scheme://userinfo@ : userinfo has no '/', '@' or whitespace (RFC 3986 section 3.2.1)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#@\s]+@")
_HELM_MASKED = ("values", "valuesObject")


def strip_userinfo(url: str) -> str:
    """``url`` without ``user:password@``; other text is returned as it was."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub_text(url)
    if "@" not in parts.netloc:
        return scrub_text(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


def scrub_text(text: str) -> str:
    """``text`` with the userinfo of every URL in it removed."""
    if "@" not in text:
        return text
    return _USERINFO.sub(r"\1", text)


def redact_helm(helm: dict[str, Any]) -> dict[str, Any]:
    """A Helm source block with every value that may hold a secret masked."""
    out = dict(helm)
    for key in _HELM_MASKED:
        if out.get(key):
            out[key] = MASK
    parameters = out.get("parameters")
    if isinstance(parameters, list):
        out["parameters"] = [
            {**item, "value": MASK} if isinstance(item, dict) and "value" in item else item
            for item in parameters
        ]
    return out


def redact(value: Any, *, keep_helm: bool = False) -> Any:
    """A copy of ``value`` with URL userinfo stripped everywhere and Helm values masked."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, list):
        return [redact(item, keep_helm=keep_helm) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: redact(item, keep_helm=keep_helm) for key, item in value.items()}
    helm = out.get("helm")
    if not keep_helm and isinstance(helm, dict):
        out["helm"] = redact_helm(helm)
    return out
