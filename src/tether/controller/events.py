"""Kubernetes Events on Applications: every sync, revert and action says who and what."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from tether.adapters.kube import ApiError, KubeClient
from tether.engine.objects import Obj

log = logging.getLogger(__name__)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def record(
    kube: KubeClient, app: Obj, reason: str, message: str, *, warning: bool = False
) -> None:
    meta = app["metadata"]
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{secrets.token_hex(6)}",
            "namespace": meta["namespace"],
        },
        "involvedObject": {
            "apiVersion": app["apiVersion"],
            "kind": app["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
        },
        "reason": reason,
        "message": message[:1000],
        "type": "Warning" if warning else "Normal",
        "source": {"component": "tether-controller"},
        "firstTimestamp": now_iso(),
        "lastTimestamp": now_iso(),
        "count": 1,
        "reportingComponent": "tether-controller",
    }
    try:
        await kube.create(event)
    except ApiError as exc:
        log.warning("could not record event %s: %s", reason, exc)
