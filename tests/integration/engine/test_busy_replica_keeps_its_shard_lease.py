"""A replica whose event loop is busy for longer than its Lease lasts keeps the Lease
and its apps: the Lease is renewed on a thread of its own.

Found at 5,000 apps and 3 replicas on 2 shared cores: replicas starved of CPU could
not renew or list their Leases in time and fenced themselves 254 times in 30
minutes, each fence cancelling every reconcile they had.
"""

from __future__ import annotations

import asyncio
import time

from fixtures.shard_member import FAST, lone_member
from fixtures.waiting import until
from tether.adapters.kube import KubeClient
from tether.testenv import cluster as localcluster


def busy(seconds: float) -> None:
    """Hold the event loop with Python work, as renders and diffs do under load."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(2000))


async def test_a_replica_busy_past_its_lease_duration_is_not_fenced(
    installed: localcluster.ClusterState, kube: KubeClient
) -> None:
    lone = lone_member(kube, "busy", ["app-a"])
    member, gained, lost = lone.member, lone.gained, lone.lost
    task = asyncio.create_task(member.run())
    try:
        await until(lambda: gained == [["app-a"]])
        calls = len(lost)
        blocked = time.monotonic()
        busy(2 * FAST.duration)
        assert member.keeper.latest.renewed_at > blocked + FAST.duration, "not renewed"
        assert member.owns("app-a", None)
        await asyncio.sleep(FAST.retry_period * 2)  # the fence and a pass both had their turn
        assert member.owns("app-a", None)
        assert 0.0 not in lost[calls:], "fenced although its Lease was renewed"
        assert member.owned == {"app-a"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await member.release()
