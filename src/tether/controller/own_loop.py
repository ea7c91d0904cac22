"""A thread with an event loop and an API server connection of its own, for Lease work.

A controller under load spends its event loop on renders, diffs and applies,
and its requests wait for streams on a connection shared with thousands of
others. Measured at 5,000 apps and 3 replicas on 2 shared cores: replicas
starved of CPU could not renew or list their Leases within the bound and
fenced themselves 254 times in 30 minutes, each time cancelling every
reconcile. Lease renewals therefore run here: they wait for nothing but the
GIL, which a busy thread hands over every few milliseconds. Client-go runs its
leader election in a goroutine of its own for the same reason.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tether.adapters.kube import KubeClient
from tether.adapters.kube import config as kubeconfig

log = logging.getLogger(__name__)

T = TypeVar("T")


class OwnLoop:
    """Runs ``main(kube)`` on a thread of its own until ``stop``, ``kube`` being a new
    client on its own connections to the server ``conn`` names."""

    def __init__(self, conn: kubeconfig.ConnectionConfig, name: str) -> None:
        self.conn = conn
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def start(self, main: Callable[[KubeClient], Awaitable[None]]) -> None:
        self._thread = threading.Thread(
            target=self._main, args=(main,), name=self.name, daemon=True
        )
        self._thread.start()
        self._started.wait(10)

    async def run(self, main: Callable[[KubeClient], Awaitable[None]]) -> None:
        """``start(main)``, then wait until it ends; cancelled, ``stop`` it first."""
        self.start(main)
        assert self._thread is not None
        try:
            await asyncio.to_thread(self._thread.join)
        finally:
            await self.stop()

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on this thread's loop (from any thread); nothing when it has ended."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed in between
                loop.call_soon_threadsafe(fn)

    async def stop(self) -> None:
        """Cancel ``main`` and wait until the thread has ended (its client closed)."""
        task = self._task
        if task is not None:
            self.call_soon(task.cancel)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    def _main(self, main: Callable[[KubeClient], Awaitable[None]]) -> None:
        async def run() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            self._started.set()
            async with KubeClient(self.conn) as kube:
                await main(kube)

        try:
            asyncio.run(run())
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("%s: ended", self.name)
        finally:
            self._started.set()


def on_loop(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], Awaitable[T]]
) -> Callable[[], Awaitable[T]]:
    """``callback`` made callable from another thread's loop: it runs on ``loop`` (the
    controller's), and the caller waits for it to finish."""

    async def call() -> T:
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            _awaited(callback), loop
        )
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise

    return call


async def _awaited(callback: Callable[[], Awaitable[T]]) -> T:
    return await callback()
