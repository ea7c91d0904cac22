"""The compact form of an Application that the list, the stream and the UI use.

A full Application carries its resource list and history; a thousand of them
are megabytes. The list only needs the columns people scan, so summaries are
built here once, in one shape, for the list route and both streams.

The repository URL is shown without its userinfo here already, so the
``search`` filter cannot be used to guess a credential one letter at a time.
Conditions (``SyncWindow``, ``ComparisonError``...) are part of the summary so
the app page shows why the controller is holding back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tether.engine.objects import Obj
from tether.engine.redact import scrub_text, strip_userinfo

UNKNOWN = "Unknown"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def last_synced_at(status: dict[str, Any]) -> str:
    finished = _dict(status.get("operationState")).get("finishedAt")
    if finished:
        return str(finished)
    history = [h for h in status.get("history") or [] if isinstance(h, dict)]
    return str(history[-1].get("deployedAt") or "") if history else ""


def summarize(app: Obj) -> dict[str, Any]:
    meta = _dict(app.get("metadata"))
    spec = _dict(app.get("spec"))
    status = _dict(app.get("status"))
    source = _dict(spec.get("source"))
    sync = _dict(status.get("sync"))
    health = _dict(status.get("health"))
    operation = _dict(status.get("operationState"))
    paused = _dict(status.get("autoSyncPaused"))
    revision = str(sync.get("revision") or "")
    # what runs now (the last deployment), which differs from the compared Git revision
    # while OutOfSync, e.g. after a rollback
    history = [h for h in status.get("history") or [] if isinstance(h, dict)]
    deployed = history[-1] if history else {}
    return {
        "name": str(meta.get("name", "")),
        "namespace": str(_dict(spec.get("destination")).get("namespace", "")),
        "project": str(spec.get("project") or "default"),
        "repoURL": strip_userinfo(str(source.get("repoURL", ""))),
        "path": str(source.get("path", ".")),
        "targetRevision": str(source.get("targetRevision", "HEAD")),
        "sync": str(sync.get("status") or UNKNOWN),
        "health": str(health.get("status") or UNKNOWN),
        "healthMessage": str(health.get("message") or ""),
        "revision": revision[:7],
        "revisionMessage": str(status.get("revisionMessage") or ""),
        "deployedRevision": str(deployed.get("revision") or "")[:7],
        "deployedMessage": str(deployed.get("message") or ""),
        "lastSyncedAt": last_synced_at(status),
        "operation": str(operation.get("phase") or ""),
        "autoSync": bool(_dict(spec.get("syncPolicy")).get("automated") is not None),
        "paused": bool(paused.get("paused")),
        "pausedReason": str(paused.get("reason") or ""),
        "conditions": conditions(status),
    }


def conditions(status: dict[str, Any]) -> list[dict[str, str]]:
    """``type``, ``reason``, ``message`` of each condition, credentials removed from the text."""
    return [
        {
            "type": str(c.get("type") or ""),
            "reason": str(c.get("reason") or ""),
            "message": scrub_text(str(c.get("message") or "")),
        }
        for c in status.get("conditions") or []
        if isinstance(c, dict)
    ]


def _wanted(value: str, wanted: str | None) -> bool:
    if not wanted:
        return True
    return value.lower() in {w.strip().lower() for w in wanted.split(",") if w.strip()}


def filter_summaries(
    summaries: Iterable[dict[str, Any]],
    search: str | None = None,
    sync: str | None = None,
    health: str | None = None,
) -> list[dict[str, Any]]:
    """Summaries matching all filters; ``sync``/``health`` take comma-separated values."""
    needle = (search or "").strip().lower()
    out = []
    for s in summaries:
        haystack = " ".join((s["name"], s["namespace"], s["repoURL"], s["path"])).lower()
        if needle and needle not in haystack:
            continue
        if _wanted(s["sync"], sync) and _wanted(s["health"], health):
            out.append(s)
    return sorted(out, key=lambda s: str(s["name"]))
