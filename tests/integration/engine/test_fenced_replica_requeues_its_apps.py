"""A replica cut off from the API long enough to stop reconciling takes its apps up again
once it is back, including the one whose reconcile the cut-off cancelled.

Found by the chaos suite (3 replicas on a loaded machine): the cancelled reconcile was
not queued again (it was cancelled, not finished), and the replica, remembering it had
started that reconcile, did not count the app as newly its own either, so the app was
never reconciled again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fixtures.shard_member import lone_member
from fixtures.waiting import until
from tether.adapters.kube import KubeClient
from tether.testenv import cluster as localcluster


async def test_a_replica_back_from_a_cut_off_requeues_the_reconcile_it_cancelled(
    installed: localcluster.ClusterState, kube: KubeClient
) -> None:
    lone = lone_member(kube, "fence", ["app-a"])
    member, gained, lost = lone.member, lone.gained, lone.lost
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
