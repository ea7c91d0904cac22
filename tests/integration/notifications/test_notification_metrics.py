"""Delivery counters are exported on the controller's /metrics."""

from __future__ import annotations

from fixtures.server import TetherServer


def test_notification_counters_are_on_metrics(tether_server: TetherServer) -> None:
    with tether_server.readonly() as http:
        metrics = http.get("/metrics").text
    for result in ("sent", "failed", "retried", "dropped", "rate_limited"):
        assert f'tether_notifications_total{{result="{result}"}}' in metrics
