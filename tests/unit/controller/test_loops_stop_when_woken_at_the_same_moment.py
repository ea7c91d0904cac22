"""A loop cancelled at the very moment its wait ends still stops.

Python 3.11's ``asyncio.wait_for`` returns the inner result and drops the
cancellation when both arrive in the same turn of the event loop, so a loop
waiting with it ran on after ``cancel()``: a stop that "did not stop within
10s; left behind", and a leader election task that a graceful stop waited on
forever. Waits are bounded with ``asyncio.timeout`` instead.
"""

from __future__ import annotations

import asyncio

from tether.controller import leader
from tether.controller.loops import PeriodicLoop


async def test_a_periodic_loop_woken_and_stopped_in_the_same_turn_stops() -> None:
    passes: list[int] = []

    async def body() -> None:
        passes.append(1)

    loop = PeriodicLoop("woken", body, lambda: 30.0, stop_timeout=2.0)
    loop.start()
    await asyncio.sleep(0.05)  # the first pass ran; the loop waits for a wake-up
    task = loop.task
    assert task is not None
    loop.wake()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2.0)
    assert done, "the loop swallowed its cancellation and ran on"
    assert task.cancelled()


async def test_a_lease_attempt_answered_as_it_is_cancelled_still_ends_the_election() -> None:
    answered = asyncio.get_running_loop().create_future()
    elector = leader.LeaderElector.__new__(leader.LeaderElector)
    elector.timing = leader.LeaseTiming(
        duration=10.0, renew_interval=2.0, renew_deadline=7.0, retry_period=1.0
    )
    elector.name = "lease"

    calls: list[int] = []

    async def attempt() -> bool:
        calls.append(1)
        if len(calls) == 1:
            return await answered
        await asyncio.Event().wait()  # the next attempt would hang: only a cancel ends it
        return False

    elector._try = attempt  # type: ignore[method-assign]

    async def renewing() -> None:
        while True:
            await elector._attempt()

    task = asyncio.create_task(renewing())
    await asyncio.sleep(0.01)
    answered.set_result(True)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2.0)
    assert done, "the election swallowed its cancellation and ran on"
