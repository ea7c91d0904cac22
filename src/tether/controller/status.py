"""Building the Application's status block: conditions, resources, history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tether.controller.events import now_iso
from tether.engine import plan
from tether.engine.diff import ResourceDiff
from tether.engine.objects import Obj, ObjectKey
from tether.engine.tree import ResourceTree


def set_condition(
    status: dict[str, Any], ctype: str, message: str | None, *, reason: str = ""
) -> None:
    """Set (message) or clear (None) a condition of type ``ctype``."""
    conds = [c for c in status.get("conditions") or [] if c.get("type") != ctype]
    previous = next((c for c in status.get("conditions") or [] if c.get("type") == ctype), None)
    if message is not None:
        same = previous is not None and previous.get("message") == message
        conds.append(
            {
                "type": ctype,
                "status": "True",
                "reason": reason or ctype,
                "message": message,
                "lastTransitionTime": previous["lastTransitionTime"]
                if same and previous
                else now_iso(),
            }
        )
    status["conditions"] = sorted(conds, key=lambda c: c["type"])


def condition(status: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == ctype), None)


def resources(
    desired_keys: list[ObjectKey],
    versions: dict[ObjectKey, str],
    diffs: dict[ObjectKey, ResourceDiff],
    errors: dict[ObjectKey, str],
    tree: ResourceTree | None,
    extras: list[ObjectKey],
) -> list[dict[str, Any]]:
    health_by_key = {}
    if tree is not None:
        for node in tree.by_role("managed"):
            health_by_key[node.key] = node.health
    out: list[dict[str, Any]] = []
    for key in sorted(desired_keys, key=plan.apply_order):
        entry: dict[str, Any] = {
            "group": key.group,
            "version": versions.get(key, ""),
            "kind": key.kind,
            "namespace": key.namespace,
            "name": key.name,
            "status": "OutOfSync"
            if key in errors
            else (diffs[key].status if key in diffs else "Unknown"),
        }
        health = health_by_key.get(key)
        if health is not None:
            entry["health"] = {"status": str(health.status), "message": health.message}
        if key in errors:
            entry["message"] = errors[key]
        out.append(entry)
    for key in extras:
        out.append(
            {
                "group": key.group,
                "version": "",
                "kind": key.kind,
                "namespace": key.namespace,
                "name": key.name,
                "status": "OutOfSync",
                "requiresPruning": True,
            }
        )
    return out


def append_history(
    status: dict[str, Any],
    *,
    revision: str,
    initiated_by: str,
    message: str,
    limit: int,
    source: dict[str, Any],
    operation_id: str = "",
) -> int:
    """Add a deploy to the history; one already there under ``operation_id`` (the same
    sync, finished again by a second pass) is not added twice."""
    history = list(status.get("history") or [])
    if operation_id:
        for entry in history:
            if entry.get("operationId") == operation_id:
                return int(entry.get("id", 0))
    next_id = (max((h.get("id", 0) for h in history), default=0)) + 1
    entry = {
        "id": next_id,
        "revision": revision,
        "deployedAt": now_iso(),
        "initiatedBy": initiated_by,
        "message": message,
        "source": source,
    }
    if operation_id:
        entry["operationId"] = operation_id
    history.append(entry)
    status["history"] = history[-limit:]
    return next_id


def new_deploy(status: dict[str, Any], revision: str, initiated_by: str) -> bool:
    """Whether a successful sync that changed something is a deploy for the history.

    An automated sync of the revision the history already ends with reverts drift
    or prunes (self-heal, or such a sync continued after a kill): not a new deploy.
    A requested sync always is, as in Argo CD."""
    return initiated_by != "automated" or deployed_revision(status) != revision


def newest(cached: Obj, written: Obj | None) -> Obj:
    """The cache may lag behind our own last write; never act on the older copy."""
    if written is None:
        return cached
    try:
        newer = int(written["metadata"]["resourceVersion"]) > int(
            cached["metadata"]["resourceVersion"]
        )
    except (KeyError, ValueError):
        return cached
    return written if newer else cached


def without_time(status: dict[str, Any]) -> dict[str, Any]:
    out = dict(status)
    out.pop("reconciledAt", None)
    return out


def stale(status: dict[str, Any], interval: float) -> bool:
    stamp = status.get("reconciledAt")
    if not stamp:
        return True
    then = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    return (dt.datetime.now(dt.UTC) - then).total_seconds() > interval * 5


def deployed_revision(status: dict[str, Any]) -> str:
    history = status.get("history") or []
    return str(history[-1]["revision"]) if history else ""
