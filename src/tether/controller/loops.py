"""A background pass run on an interval, for the controller's loops that follow the
leader (registry credentials, ApplicationSets, image automation).

One pass failing is logged and the loop goes on (an error the Kubernetes API
answered is one WARNING line: the next pass retries it, so a traceback would
only be noise); ``stop`` cancels the pass in
progress and waits for it a bounded time, so a call stuck in a worker thread
cannot keep leadership (and its Lease) from being handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from tether.adapters.kube import ApiError, ApiResource, KubeClient

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0  # seconds a pass may take to end once cancelled


class PeriodicLoop:
    def __init__(
        self,
        name: str,
        body: Callable[[], Awaitable[None]],
        interval: Callable[[], float],
        *,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.name = name
        self.body = body
        self.interval = interval
        self.stop_timeout = stop_timeout
        self.task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is None:
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=self.stop_timeout)
        if not done:
            log.warning("%s did not stop within %.0fs; left behind", self.name, self.stop_timeout)
        for finished in done:
            with contextlib.suppress(asyncio.CancelledError):
                finished.result()

    def wake(self) -> None:
        """Run the next pass now instead of at the end of the interval."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.body()
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                log.warning("%s pass failed: %s", self.name, api_error(exc))
            except Exception:
                log.exception("%s pass failed", self.name)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval()):
                    await self._wake.wait()
            self._wake.clear()


class ServedKind:
    """The API of the custom resource a pass reconciles, or None while its CRD is not
    served: the pass then has nothing to do, which is said once, not every pass."""

    def __init__(self, kube: KubeClient, api_version: str, kind: str) -> None:
        self.kube = kube
        self.api_version = api_version
        self.kind = kind
        self._missing_logged = False

    async def api(self) -> ApiResource | None:
        try:
            return await self.kube.resource_for(self.api_version, self.kind)
        except ApiError as exc:
            if not self._missing_logged:
                log.warning("%s CRD not served (%s); run `tether install`", self.kind, exc)
                self._missing_logged = True
            return None


def api_error(exc: ApiError) -> str:
    """One line for an error the Kubernetes API answered: its status, reason and message."""
    message = " ".join(exc.message.split())
    if len(message) > 200:
        message = message[:200] + "..."
    return f"Kubernetes API answered {exc.status} {exc.reason}: {message}"
