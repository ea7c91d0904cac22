"""Kubernetes Events on Applications: every sync, revert and action says who and what."""

from __future__ import annotations

from tether.adapters.kube import KubeClient
from tether.adapters.kube import events as kube_events
from tether.adapters.kube.events import now_iso
from tether.engine.objects import Obj

__all__ = ["now_iso", "record"]


async def record(
    kube: KubeClient, app: Obj, reason: str, message: str, *, warning: bool = False
) -> None:
    event = kube_events.event_for(
        app, reason, message, component="tether-controller", warning=warning
    )
    await kube_events.record(kube, event)
