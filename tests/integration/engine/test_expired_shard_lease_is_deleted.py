"""The Lease of a replica killed and replaced under a new Pod name is deleted once it has
been expired for a Lease duration, so a replica starting later does not count it live.

Found by the chaos suite: after a replica had been replaced, every later restart left
the apps the ring gave the dead replica without an owner for a whole Lease duration
(a starting replica cannot tell an old Lease from a live one until it has watched it).
"""

from __future__ import annotations

import asyncio
import secrets
import time

from fixtures.tether import APP_NS
from fixtures.waiting import until
from tether.adapters.kube import KubeClient
from tether.controller import leader, sharding
from tether.testenv import cluster as localcluster

FAST = leader.LeaseTiming(duration=3.0, renew_interval=1.0, renew_deadline=2.0, retry_period=0.5)


async def test_a_dead_replicas_lease_is_deleted_and_a_new_replica_never_counts_it(
    installed: localcluster.ClusterState, kube: KubeClient
) -> None:
    group = f"gc-{secrets.token_hex(3)}"
    ghost = f"ghost-{secrets.token_hex(3)}"
    await kube.create(
        {
            "apiVersion": leader.API_VERSION,
            "kind": leader.KIND,
            "metadata": {
                "name": sharding.lease_name(ghost),
                "namespace": APP_NS,
                "labels": {sharding.GROUP_LABEL: group},
                "annotations": {sharding.MEMBERS_ANNOTATION: ghost},
            },
            "spec": {
                "holderIdentity": ghost,
                "leaseDurationSeconds": 3,
                "renewTime": leader.micro_time(),
            },
        }
    )

    def member(name: str) -> sharding.ShardMember:
        return sharding.ShardMember(
            kube,
            APP_NS,
            apps=lambda: sharding.AppShards({}),
            identity=name,
            group=group,
            timing=FAST,
        )

    first = member(f"first-{secrets.token_hex(3)}")
    task = asyncio.create_task(first.run())
    later = member(f"later-{secrets.token_hex(3)}")
    later_task: asyncio.Task[None] | None = None
    try:
        await until(lambda: ghost in first.members)
        await until(lambda: ghost not in first.members)  # expired: one Lease duration

        async def gone() -> bool:
            lease = await kube.get_or_none(
                leader.API_VERSION, leader.KIND, sharding.lease_name(ghost), APP_NS
            )
            return lease is None

        deadline = time.monotonic() + 30
        while not await gone():
            assert time.monotonic() < deadline, "the expired Lease was never deleted"
            await asyncio.sleep(0.2)
        later_task = asyncio.create_task(later.run())
        await until(lambda: first.identity in later.members)
        await asyncio.sleep(1.0)
        assert ghost not in later.members
    finally:
        for t in (task, later_task):
            if t is not None:
                t.cancel()
                await asyncio.gather(t, return_exceptions=True)
        await first.release()
        await later.release()
