"""Repeated Events on the real API server: one Event whose count grows."""

from __future__ import annotations

import secrets

from tether.adapters.kube import KubeClient
from tether.adapters.kube import events as kube_events
from tether.adapters.kube.event_correlator import EventCorrelator


async def test_repeats_raise_the_count_of_one_event(kube: KubeClient) -> None:
    kube_events._correlators[kube] = EventCorrelator(heartbeat=0)
    subject = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"subject-{secrets.token_hex(3)}", "namespace": "default"},
    }
    for _ in range(4):
        event = kube_events.event_for(subject, "Checked", "same words", component="test")
        await kube_events.record(kube, event)
    api = await kube.resource_for("v1", "Event")
    items, _ = await kube.list(api, "default")
    found = [
        e
        for e in items
        if (e.get("involvedObject") or {}).get("name") == subject["metadata"]["name"]
    ]
    assert [e["count"] for e in found] == [4]
    assert kube.requests.snapshot().get(("create", "events", False)) == 1
