"""The controller's background loops: a failing pass, a wake, and a bounded stop."""

from __future__ import annotations

import asyncio
import contextlib
import time

from tether.controller.loops import PeriodicLoop


async def test_a_failing_pass_is_logged_and_the_loop_goes_on() -> None:
    runs: list[float] = []

    async def body() -> None:
        runs.append(time.monotonic())
        raise RuntimeError("boom")

    loop = PeriodicLoop("failing", body, lambda: 0.01)
    loop.start()
    while len(runs) < 3:
        await asyncio.sleep(0.01)
    await loop.stop()
    assert loop.task is None


async def test_a_wake_runs_the_next_pass_before_the_interval() -> None:
    runs = 0

    async def body() -> None:
        nonlocal runs
        runs += 1

    loop = PeriodicLoop("woken", body, lambda: 3600.0)
    loop.start()
    while runs < 1:
        await asyncio.sleep(0.01)
    loop.wake()
    while runs < 2:
        await asyncio.sleep(0.01)
    await loop.stop()


async def test_a_pass_that_will_not_end_does_not_hold_the_stop_past_its_bound() -> None:
    started, released = asyncio.Event(), asyncio.Event()

    async def stuck() -> None:
        started.set()
        try:
            await released.wait()
        except asyncio.CancelledError:
            await released.wait()  # goes on past the cancel, as a stuck thread call does
            raise

    loop = PeriodicLoop("stuck", stuck, lambda: 1.0, stop_timeout=0.2)
    loop.start()
    await started.wait()
    task = loop.task
    await asyncio.wait_for(loop.stop(), 5)
    assert loop.task is None
    assert task is not None and not task.done()
    released.set()  # the stuck call ends at last; the task left behind can be reaped
    with contextlib.suppress(asyncio.CancelledError):
        await task
