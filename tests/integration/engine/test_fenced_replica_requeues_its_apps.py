"""A replica cut off from the API long enough to stop reconciling takes its apps up again
once it is back, including the one whose reconcile the cut-off cancelled.

Found by the chaos suite (3 replicas on a loaded machine): the cancelled reconcile was
not queued again (it was cancelled, not finished), and the replica, remembering it had
started that reconcile, did not count the app as newly its own either, so the app was
never reconciled again.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from fixtures.tether import APP_NS
from fixtures.waiting import until
from tether.adapters.kube import KubeClient
from tether.controller import leader, sharding
from tether.testenv import cluster as localcluster

FAST = leader.LeaseTiming(duration=4.0, renew_interval=1.0, renew_deadline=3.0, retry_period=0.5)


async def test_a_replica_back_from_a_cut_off_requeues_the_reconcile_it_cancelled(
    installed: localcluster.ClusterState, kube: KubeClient
) -> None:
    gained: list[list[str]] = []
    lost: list[float] = []

    async def on_lost(timeout: float) -> None:
        lost.append(timeout)

    member = sharding.ShardMember(
        kube,
        APP_NS,
        apps=lambda: [("app-a", None)],
        identity=f"fence-{secrets.token_hex(3)}",
        group=f"fence-{secrets.token_hex(3)}",
        timing=FAST,
        on_gained=gained.append,
        on_lost=on_lost,
    )
    task = asyncio.create_task(member.run())
    try:
        await until(lambda: gained == [["app-a"]])
        assert member.take("app-a", None)  # a reconcile starts...
        leases = member.keeper.leases  # the keeper's own, on its thread
        assert leases is not None
        renew, listing = leases.renew, leases.list

        async def unreachable(*args: Any) -> Any:
            raise OSError("network is unreachable")

        leases.renew = unreachable  # type: ignore[method-assign,assignment]
        leases.list = unreachable  # type: ignore[method-assign]
        # ...and is cancelled when the replica can no longer trust its Lease.
        await until(lambda: not member.owned and 0.0 in lost)
        assert not member.owns("app-a", None)
        leases.renew = renew  # type: ignore[method-assign]
        leases.list = listing  # type: ignore[method-assign]
        await until(lambda: len(gained) == 2, timeout=15)
        assert gained[1] == ["app-a"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await member.release()
