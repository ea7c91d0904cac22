"""Lease work on a thread of its own: it keeps its pace while the controller's loop is
busy, hands callbacks back to the controller's loop, and stops when told."""

from __future__ import annotations

import asyncio
import threading
import time

from tether.adapters.kube import KubeClient
from tether.adapters.kube.config import ConnectionConfig
from tether.controller.own_loop import OwnLoop, on_loop

NOWHERE = ConnectionConfig(
    server="https://127.0.0.1:9",
    ca_file=None,
    token="t",
    cert_file=None,
    key_file=None,
    insecure=True,
    namespace="default",
)


async def test_ticks_go_on_while_the_controllers_loop_is_held() -> None:
    ticks: list[float] = []

    async def main(kube: KubeClient) -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.05)

    own = OwnLoop(NOWHERE, "ticks")
    own.start(main)
    # Ticking first: the thread's first client imports HTTP/2 and TLS modules, which a
    # loop held by Python work slows to a crawl (each file read waits out the GIL's
    # switch interval); that start-up is not the pace this test is about.
    started = time.monotonic()
    while not ticks and time.monotonic() < started + 10:
        await asyncio.sleep(0.01)
    held = time.monotonic()
    while time.monotonic() < held + 1.0:  # the controller's loop, busy with Python work
        sum(range(1000))
    during = [t for t in ticks if held < t < held + 1.0]
    await own.stop()
    assert len(during) >= 5
    count = len(ticks)
    await asyncio.sleep(0.2)
    assert len(ticks) == count, "ticks went on after stop"


async def test_callbacks_run_on_the_controllers_loop_and_their_answer_comes_back() -> None:
    here = asyncio.get_running_loop()
    ran_on: list[int] = []
    answers: list[str] = []

    async def callback() -> str:
        ran_on.append(threading.get_ident())
        return "led"

    async def main(kube: KubeClient) -> None:
        answers.append(await on_loop(here, callback)())
        await asyncio.Event().wait()

    own = OwnLoop(NOWHERE, "callbacks")
    task = asyncio.create_task(own.run(main))
    deadline = time.monotonic() + 5
    while not answers and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert answers == ["led"]
    assert ran_on == [threading.get_ident()]
    assert own._thread is not None and not own._thread.is_alive()
