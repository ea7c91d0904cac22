"""A replica killed and replaced by a Pod of a new name: the dead replica's apps are owned
again as soon as its Lease has expired, not a Lease duration after the newcomer started.

Found by the chaos suite (replica-kill): the newcomer had never seen the dead Pod's Lease
before, so it counted it live for a whole Lease duration from its first list, while the
other replicas, which had watched it expire, already gave the newcomer its share of the
dead replica's apps. Those apps had no owner for about 16 s instead of 12.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import test_sharded_replicas as sharded

from fixtures.tether import Apps
from fixtures.waiting import await_for
from tether.controller import sharding

trio = sharded.trio  # three replicas of the default shard timing, as in that file
apps = sharded.apps  # on a plain client: the shared one would start a fourth, unsharded controller

# When a replacement Pod is typically up: the gap showed when it starts well after the kill.
REPLACED_AFTER = 5.0


async def test_a_replica_replaced_under_a_new_name_has_its_apps_owned_again_within_the_lease_time(
    trio: sharded.Trio, apps: Apps, git_repo: Any, dest_namespace: str
) -> None:
    tag = f"r{secrets.token_hex(2)}"
    names = await sharded.create_apps(apps, git_repo, dest_namespace, tag)
    await sharded.all_synced(apps, names)
    victim = trio.replicas[1]
    lost = sorted(victim.member.owned & set(names))
    assert lost

    await victim.crash()
    killed = time.monotonic()
    await asyncio.sleep(REPLACED_AFTER)
    newcomer = await trio.start("replica-d")

    async def owned_again() -> bool:
        started = {s.app for s in trio.spans if s.replica != victim.name and s.start > killed}
        return set(lost) <= started

    await await_for(owned_again, timeout=40, what="every app of the killed replica reconciled")
    took = time.monotonic() - killed
    firsts = [
        min(s.start for s in trio.spans if s.app == app and s.start > killed) - killed
        for app in lost
    ]
    print(f"{len(lost)} apps owned again {took:.1f} s after the kill")
    print(f"first reconcile after the kill: {min(firsts):.1f}-{max(firsts):.1f} s")
    # Lease (10 s) + two list periods, with slack for a loaded machine; before: ~16.5 s.
    assert took <= 14.0
    assert all(f >= sharding.SHARD_TIMING.renew_deadline for f in firsts)  # not before fencing

    survivors = {r.name for r in trio.replicas if r is not victim}
    await trio.settled(survivors)
    owned = [r.member.owned & set(names) for r in trio.replicas if r is not victim]
    assert set().union(*owned) == set(names)
    assert sum(len(o) for o in owned) == len(names)
    assert not trio.overlaps()
    to_newcomer = newcomer.member.owned & set(lost)
    print(f"{len(to_newcomer)} of them went to the newcomer")
    assert to_newcomer  # the apps that waited for the newcomer's own judgement
