"""``tether_shard_apps`` and ``tether_shard_members`` on ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tether.controller.sharding.member import ShardMember


class ShardCollector(Collector):
    """``tether_shard_apps`` (apps this replica reconciles) and ``tether_shard_members``."""

    def __init__(self, member: ShardMember) -> None:
        self.member = member

    def collect(self) -> Iterator[Any]:
        apps = GaugeMetricFamily(
            "tether_shard_apps", "Applications this replica reconciles", labels=["member"]
        )
        apps.add_metric([self.member.identity], len(self.member.owned))
        yield apps
        members = GaugeMetricFamily("tether_shard_members", "Live members of the shard ring")
        members.add_metric([], len(self.member.members))
        yield members
