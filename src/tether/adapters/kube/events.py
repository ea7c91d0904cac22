"""Recording core/v1 Events: the one place that knows their shape."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import weakref

from tether.adapters.kube.client import KubeClient
from tether.adapters.kube.errors import ApiError, NotFound
from tether.adapters.kube.event_correlator import EventCorrelator
from tether.engine.objects import Obj

log = logging.getLogger(__name__)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_for(
    obj: Obj,
    reason: str,
    message: str,
    *,
    component: str,
    warning: bool = False,
    namespace: str | None = None,
    host: str = "",
) -> Obj:
    """An Event about ``obj``; cluster-scoped objects need ``namespace`` to file it in."""
    meta = obj["metadata"]
    where = namespace or meta.get("namespace") or "default"
    involved = {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "name": meta["name"],
        "uid": meta.get("uid", ""),
    }
    if meta.get("namespace"):
        involved["namespace"] = meta["namespace"]
    source = {"component": component} | ({"host": host} if host else {})
    now = now_iso()
    event: Obj = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(6)}", "namespace": where},
        "involvedObject": involved,
        "reason": reason,
        "message": message[:1000],
        "type": "Warning" if warning else "Normal",
        "source": source,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": component,
    }
    if host:
        event["reportingInstance"] = host
    return event


# One correlator per client: the series it knows are the Events that client wrote.
_correlators: weakref.WeakKeyDictionary[KubeClient, EventCorrelator] = weakref.WeakKeyDictionary()


def correlator_of(kube: KubeClient) -> EventCorrelator:
    found = _correlators.get(kube)
    if found is None:
        found = _correlators[kube] = EventCorrelator()
    return found


async def record(kube: KubeClient, event: Obj) -> None:
    """Create the Event, or count a repeat on the one created for it (``event_correlator``);
    a failure is logged, never raised (events are best effort)."""
    correlator = correlator_of(kube)
    decision = correlator.observe(event)
    try:
        if decision.action == "none":
            return
        if decision.series is not None and decision.action == "bump":
            series = decision.series
            try:
                await kube.merge_patch(
                    "v1",
                    "Event",
                    series.name,
                    {"count": series.count, "lastTimestamp": event.get("lastTimestamp")},
                    series.namespace,
                )
                correlator.bumped(series)
                return
            except NotFound:  # the API server dropped it (Events live an hour): a new one
                correlator.forget(event)
        await kube.create(event)
        correlator.created(event)
    except ApiError as exc:
        log.warning("could not record event %s: %s", event.get("reason"), exc)
