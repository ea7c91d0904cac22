"""Requests sent to the API server, counted by verb and resource.

Requests per Application is the cost a controller puts on the API server
(and on etcd behind it), whatever the machine's speed, so it is counted at
the one place every request passes through, named the way kube-apiserver's
``apiserver_request_total`` names them (verb, group/resource[/subresource],
dry run), and exported as ``tether_kube_requests_total``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

# (verb, group/resource[/subresource], dry run)
RequestKind = tuple[str, str, bool]


def describe(
    method: str, path: str, params: dict[str, Any] | None, content_type: str = ""
) -> RequestKind:
    """What a request is, in the API server's words: ``("apply", "apps/deployments", False)``."""
    params = params or {}
    parts = [p for p in path.split("?")[0].split("/") if p]
    if parts[:1] == ["api"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"]:
        group, rest = (parts[1] if len(parts) > 1 else ""), parts[3:]
    else:
        group, rest = "", parts
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        rest = rest[2:]  # a namespaced resource: what follows the namespace names it
    named = len(rest) >= 2
    resource = "/".join(p for p in (group, rest[0] if rest else "") if p) or path
    if len(rest) >= 3:
        resource += "/" + rest[2]
    verb = {
        "GET": "get" if named else ("watch" if params.get("watch") else "list"),
        "POST": "create",
        "PUT": "update",
        "DELETE": "delete",
        "PATCH": "apply" if content_type.startswith("application/apply-patch") else "patch",
    }.get(method.upper(), method.lower())
    if not rest:  # discovery documents (/api, /apis/apps/v1)
        verb, resource = "discovery", path
    return verb, resource, bool(params.get("dryRun"))


class RequestCounts:
    """A running tally, shared by a client and the impersonating clients made from it."""

    def __init__(self) -> None:
        self.counts: Counter[RequestKind] = Counter()

    def add(
        self, method: str, path: str, params: dict[str, Any] | None, content_type: str = ""
    ) -> None:
        self.counts[describe(method, path, params, content_type)] += 1

    def total(self) -> int:
        return sum(self.counts.values())

    def snapshot(self) -> dict[RequestKind, int]:
        return dict(self.counts)
