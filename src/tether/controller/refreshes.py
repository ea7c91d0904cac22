"""Refreshes: a push, or a request on an app, asks Git anew for the apps it names.

Each refresh carries the moment it was asked (monotonic): the app's next
reconcile is answered by any Git listing that started after it
(``Sources.resolve``), however long the queue takes to reach the app, and a
listing that started before it never answers. A push reaching one replica is
handed to the others with one write (``pushes.py``); a refresh annotation on
an app (``tether app refresh`` sent through any replica, or Argo CD's
``argocd.argoproj.io/refresh``) reaches the replica that owns it through the
app's watch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

from tether.adapters.kube import KubeClient
from tether.controller.pushes import Push, PushRelay
from tether.controller.sources.step import Sources
from tether.controller.workqueue import Priority
from tether.engine import application as appmodel
from tether.engine.credentials import comparable_url
from tether.engine.objects import Obj

Enqueue = Callable[..., None]  # Controller.enqueue(name, *, since=None, priority=...)


class Refreshes:
    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        sources: Sources,
        *,
        apps: Callable[[], Iterator[Obj]],
        owns: Callable[[str], bool],
        enqueue: Enqueue,
    ) -> None:
        self.sources = sources
        self._apps = apps
        self._owns = owns
        self._enqueue = enqueue
        self._annotations: dict[str, str] = {}  # app -> the refresh annotation last acted on
        self._background: set[asyncio.Task[None]] = set()
        # With other replicas: a push one of them hears reaches this one's apps.
        self.relay = PushRelay(kube, namespace, self._pushed_elsewhere)

    def repo(self, repo_url: str) -> list[str]:
        """A push arrived for ``repo_url``: refresh every app that uses it, now; the
        apps other replicas reconcile are theirs to refresh, told with one write."""
        hit, spellings = self._apps_of_repo(repo_url)
        for url in spellings:
            self.sources.announce_push(url)
        pushed = time.time()
        mine = [name for name in hit if self._owns(name)]
        for name in mine:
            self._enqueue(name, priority=Priority.ROUTINE)
        if len(mine) < len(hit):
            task = asyncio.create_task(self.relay.announce(repo_url, pushed), name="push-relay")
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return hit

    def requested(self, app: Obj, *, first_sight: bool) -> float | None:
        """When the app's refresh annotation was written (monotonic), if it asks for a
        refresh not acted on yet; the repository's listings from before it are dropped."""
        name = str(app["metadata"]["name"])
        refresh = (
            (app["metadata"].get("annotations") or {}).get(appmodel.REFRESH_ANNOTATION)
        ) or ""
        if not refresh:
            return None
        new = not first_sight and self._annotations.get(name) != refresh
        self._annotations[name] = str(refresh)
        if not new:
            return None
        at = asked_at(str(refresh), time.monotonic())
        url = ((app.get("spec") or {}).get("source") or {}).get("repoURL", "")
        if url:
            self.sources.announce_push(str(url), at=at)
        return at

    def forget(self, name: str) -> None:
        self._annotations.pop(name, None)

    def _pushed_elsewhere(self, push: Push) -> None:
        """Another replica heard a push: refresh this replica's apps of the repository,
        answered by any listing that started after the push."""
        since = asked_at(str(push.at), time.monotonic())
        hit, spellings = self._apps_of_repo(push.url)
        for url in spellings:
            self.sources.announce_push(url, at=since)
        for name in hit:
            if self._owns(name):
                self._enqueue(name, since=since, priority=Priority.ROUTINE)

    def _apps_of_repo(self, repo_url: str) -> tuple[list[str], set[str]]:
        """The apps whose source is ``repo_url``, and the spellings of it they use."""
        want = comparable_url(repo_url)
        hit, spellings = [], set()
        for app in self._apps():
            url = ((app.get("spec") or {}).get("source") or {}).get("repoURL", "")
            if url and comparable_url(url) == want:
                spellings.add(str(url))
                hit.append(str(app["metadata"]["name"]))
        return hit, spellings


def asked_at(refresh: str, now: float) -> float:
    """The monotonic time a refresh annotation was written, never later than ``now``
    (the annotation's own time, or ``now`` when it carries none)."""
    wall = appmodel.refresh_requested_at(refresh)
    if wall is None:
        return now
    return now - max(0.0, time.time() - wall)
