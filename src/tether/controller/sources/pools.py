"""The worker threads the source step runs its blocking work in.

Git and the renderers block, so they run in two bounded pools of their own
(``GIT_WORKERS``, ``RENDER_WORKERS``) rather than the loop's shared default
executor. A repository gets at most one Git-pool thread at a time (a gate per
repository, ``gate``: the others wait without holding a thread, and not
for long), so one silent or slow server cannot starve the other repositories,
the renderers or the reconcile workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tether.controller.sources.gate import RepositoryGates

GIT_WORKERS = 4
RENDER_WORKERS = 2
T = TypeVar("T")


class WorkPools:
    def __init__(
        self, *, git_workers: int = GIT_WORKERS, render_workers: int = RENDER_WORKERS
    ) -> None:
        self.git_pool = ThreadPoolExecutor(git_workers, thread_name_prefix="tether-git")
        self.render_pool = ThreadPoolExecutor(render_workers, thread_name_prefix="tether-render")
        self.gates = RepositoryGates()

    def gate(self, url: str) -> contextlib.AbstractAsyncContextManager[None]:
        """One Git thread at a time per repository; waiters hold no thread
        (RepositoryBusy when the running call has taken longer than the gates' patience)."""
        return self.gates.turn(url)

    async def git(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the Git pool (network and repository work)."""
        return await _in(self.git_pool, fn, *args)

    async def render(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the render pool."""
        return await _in(self.render_pool, fn, *args)

    def close(self) -> None:
        """Stop the pools (running calls finish on their own)."""
        self.git_pool.shutdown(wait=False, cancel_futures=True)
        self.render_pool.shutdown(wait=False, cancel_futures=True)


async def _in(pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, fn, *args)
    return await loop.run_in_executor(pool, call)
