"""A push handed over to the owning replica costs that replica one Git listing.

Found by the 5,000-app benchmark on three sharded replicas: the replica that
took the webhook annotated the other replicas' apps one at a time, each with
the time of its own patch; every annotation the owner saw dropped what it had
listed, and every app it then reconciled asked for a listing under a second
old, counted from the reconcile. Working through its queue, each replica
listed the remote about once a second: 2,244 Git requests where one
controller makes 4.

Now the annotation carries the push's time and a listing is asked to be newer
than the event, not than the reconcile. The controller here polls every 300 s,
so only the refresh can explain the new commit arriving; the annotations come
one at a time, spread over several FRESH_WINDOWs, as a busy replica writes them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from fixtures.gitserver import GitRepo
from fixtures.tether import APP_NS, Apps, example_files
from tether.adapters import git
from tether.controller.runtime import Controller
from tether.controller.sources.step import FRESH_WINDOW, Sources
from tether.engine import application as appmodel
from tether.engine.application import ApplicationSpec, parse_spec

APPS = 6
CONFIGMAP = "apps/finance/configmap.yaml"


@pytest.fixture
def poll_interval() -> float:
    return 300.0


async def test_refresh_annotations_carrying_one_push_cost_one_listing(
    git_repo: GitRepo,
    apps: Apps,
    controller: Controller,
    dest_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = example_files()
    git_repo.commit(files)
    names = [await apps.create(git_repo.git_url, dest=dest_namespace) for _ in range(APPS)]
    for name in names:
        await apps.wait(name, lambda s: s.get("sync", {}).get("revision"), "a revision")

    repos = controller.sources.repos
    listings: list[float] = []
    real_list = repos._list_heads

    def counted(url: str, creds: Any) -> dict[str, str]:
        listings.append(time.monotonic())
        return real_list(url, creds)

    monkeypatch.setattr(repos, "_list_heads", counted)
    sha = git_repo.commit({CONFIGMAP: files[CONFIGMAP].replace("info", "debug")}, "debug")
    pushed = str(time.time())
    for name in names:
        await apps.kube.merge_patch(
            appmodel.API_VERSION,
            appmodel.KIND,
            name,
            {"metadata": {"annotations": {appmodel.REFRESH_ANNOTATION: pushed}}},
            APP_NS,
        )
        await asyncio.sleep(FRESH_WINDOW / 2)
    for name in names:
        await apps.wait(
            name, lambda s: s.get("sync", {}).get("revision") == sha, f"revision {sha[:8]}"
        )
    assert len(listings) == 1, [round(t - listings[0], 2) for t in listings]


async def test_a_listing_after_the_event_answers_however_late_the_pass(
    git_repo: GitRepo, tmp_path: Any
) -> None:
    sources = Sources(git.RepoCache(tmp_path / "cache"), max_age=30.0)
    spec = _spec(git_repo.git_url)
    git_repo.commit({"app/cm.yaml": "kind: ConfigMap\n"}, "first")
    try:
        seen = time.monotonic()
        first = await sources.resolve(spec, None, None, since=seen)
        git_repo.commit({"app/cm.yaml": "kind: ConfigMap\n# 2\n"}, "after the listing")
        await asyncio.sleep(FRESH_WINDOW * 1.5)
        # Asked for at ``seen``: the listing made since still answers.
        assert await sources.resolve(spec, None, None, since=seen) == first
        # A newer event needs a newer listing.
        assert await sources.resolve(spec, None, None, since=time.monotonic()) != first
    finally:
        sources.close()


async def test_a_push_arriving_during_a_listing_is_not_answered_by_it(
    git_repo: GitRepo, tmp_path: Any
) -> None:
    sources = Sources(git.RepoCache(tmp_path / "cache"), max_age=30.0)
    spec = _spec(git_repo.git_url)
    first = git_repo.commit({"app/cm.yaml": "kind: ConfigMap\n"}, "first")
    loop = asyncio.get_running_loop()
    real_list = sources.repos._list_heads
    pushed: list[str] = []

    async def announce() -> None:
        sources.announce_push(git_repo.git_url)

    def list_then_push(url: str, creds: Any) -> dict[str, str]:
        heads = real_list(url, creds)
        if not pushed:  # the push lands, and its webhook arrives, before this listing returns
            pushed.append(git_repo.commit({"app/cm.yaml": "kind: ConfigMap\n# 2\n"}, "push"))
            asyncio.run_coroutine_threadsafe(announce(), loop).result()
        return heads

    sources.repos._list_heads = list_then_push  # type: ignore[method-assign]
    try:
        assert await sources.resolve(spec, None, None) == first
        # A routine pass after the webhook: the listing that was running cannot hold it.
        assert await sources.resolve(spec, None, None) == pushed[0]
    finally:
        sources.close()


def _spec(url: str) -> ApplicationSpec:
    return parse_spec(
        {
            "source": {"repoURL": url, "path": "app", "targetRevision": "main"},
            "destination": {"namespace": "d"},
        }
    )
