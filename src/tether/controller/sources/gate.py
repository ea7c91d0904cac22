"""One Git operation per repository at a time, and no app stuck behind a hung one.

All apps of a repository share one bare clone, so its Git work runs one call at
a time. A caller that finds the repository busy waits its turn, but only while
the running call is younger than ``patience``: past that, the call may be a
listing or fetch that hangs until the Git idle timeout (30 s), and a reconcile
worker waiting it out is one that no other app, of any repository, can use -
with a few workers and many apps on the silent repository, the whole work
queue stalled for the timeout, over and over. Such a caller gets
RepositoryBusy at once instead; the reconciler looks at the app again after
``retry_after`` without writing anything, by when the call has answered or its
failure is remembered for every app (``Sources.resolve``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from tether.adapters import git
from tether.engine.credentials import strip_userinfo

__all__ = ["PATIENCE", "RETRY_AFTER", "RepositoryBusy", "RepositoryGates"]

PATIENCE = 5.0
RETRY_AFTER = 2.0


class RepositoryBusy(git.GitError):
    """Another call on the repository has run past the patience: try again later.

    A GitError so that callers with no queue to go back to (a diff preview, a
    commit subject) say why they failed; the reconciler requeues the app instead.
    """

    def __init__(self, message: str, retry_after: float = RETRY_AFTER) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RepositoryGates:
    def __init__(self, patience: float = PATIENCE, retry_after: float = RETRY_AFTER) -> None:
        self.patience = patience
        self.retry_after = retry_after
        self._locks: dict[str, asyncio.Lock] = {}
        self._since: dict[str, float] = {}

    def busy(self, url: str) -> bool:
        """Whether a Git call on ``url``'s repository is running now."""
        lock = self._locks.get(git.cache_key(url))
        return lock is not None and lock.locked()

    @contextlib.asynccontextmanager
    async def turn(self, url: str) -> AsyncIterator[None]:
        """Hold the repository for one call; RepositoryBusy rather than wait past patience."""
        key = git.cache_key(url)
        lock = self._locks.setdefault(key, asyncio.Lock())
        wait = self.patience
        if lock.locked():
            running = time.monotonic() - self._since.get(key, time.monotonic())
            wait = self.patience - running
        try:
            if wait <= 0:
                raise TimeoutError
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow the
            # caller's own cancellation when the lock is granted at the same moment.
            async with asyncio.timeout(wait):
                await lock.acquire()
        except TimeoutError:
            running = time.monotonic() - self._since.get(key, time.monotonic())
            raise RepositoryBusy(
                f"{strip_userinfo(url)} is busy: a Git call on it has waited {running:.0f}s "
                "for the server",
                self.retry_after,
            ) from None
        self._since[key] = time.monotonic()
        try:
            yield
        finally:
            # From the hand-over, until the next holder notes its own start: a caller
            # arriving in between must not read the last call's start as this one's.
            self._since[key] = time.monotonic()
            lock.release()
