"""A repository whose server hangs: all its apps say so within a timeout, no other app waits.

Found by the chaos suite at 150 apps (git-slow, a tarpit held past the idle
timeout): every reconcile worker queued on the hung repository's gate and hung
there until the timeout, so the whole work queue stalled; the failure was then
remembered for only max_age (a second at a short poll), so the few apps whose
workers were already queued said why and the next app listed again and hung
the timeout out once more. Eight apps of 150 ever showed the ComparisonError.

Here the apps are reconciled the way the controller does it - a few workers
sharing one queue, each pass a resolve, a failure costing a status write, a
busy repository sending the app back to the queue - against a real socket that
accepts and never answers, next to a repository served by ``git daemon``.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from fixtures.gitserver import GitRepo
from fixtures.tarpit import silent_server
from tether.adapters import git
from tether.controller.sources.gate import RepositoryBusy
from tether.controller.sources.step import Sources
from tether.engine.application import ApplicationSpec, parse_spec

IDLE = 3.0  # the Git idle timeout in this test (30 s in the controller)
WORKERS = 4
HUNG_APPS = 100
HEALTHY_APPS = 8
STATUS_WRITE = 0.05  # what writing a new ComparisonError costs a worker
POLL = 1.0  # max_age is half of it, as in the controller


@pytest.fixture
def tarpit() -> Iterator[tuple[int, list[socket.socket]]]:
    with silent_server(IDLE) as server:
        yield server


def _spec(url: str) -> ApplicationSpec:
    return parse_spec(
        {
            "source": {"repoURL": url, "path": "app", "targetRevision": "main"},
            "destination": {"namespace": "d"},
        }
    )


async def _reconcile_all(
    sources: Sources, specs: dict[str, ApplicationSpec], deadline: float
) -> tuple[dict[str, float], dict[str, float], int]:
    """Run the apps until each has failed or resolved once (or the deadline).

    Seconds from the start until each app's first failure, and its first success,
    and how many times an app went back to the queue because its repository was busy.
    """
    started = time.monotonic()
    failed: dict[str, float] = {}
    resolved: dict[str, float] = {}
    busy = 0
    queue: asyncio.Queue[str] = asyncio.Queue()
    for name in specs:
        queue.put_nowait(name)
    loop = asyncio.get_running_loop()

    async def worker() -> None:
        nonlocal busy
        while True:
            name = await queue.get()
            again = POLL
            try:
                await sources.resolve(specs[name], None, None)
                resolved.setdefault(name, time.monotonic() - started)
            except RepositoryBusy as exc:
                busy += 1
                again = exc.retry_after
            except git.GitError:
                if name not in failed:  # the same condition again is not written again
                    failed[name] = time.monotonic() - started
                    await asyncio.sleep(STATUS_WRITE)
            loop.call_later(again, queue.put_nowait, name)

    tasks = [asyncio.create_task(worker()) for _ in range(WORKERS)]
    try:
        while len(failed) + len(resolved) < len(specs) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return failed, resolved, busy


async def test_every_app_of_a_hung_repository_fails_within_a_timeout_and_others_go_on(
    tarpit: tuple[int, list[socket.socket]], git_repo: GitRepo, tmp_path
) -> None:
    port, accepted = tarpit
    sources = Sources(git.RepoCache(tmp_path / "cache"), max_age=POLL / 2)
    sources.pools.gates.patience = 0.5
    sources.pools.gates.retry_after = 0.3
    hung = {f"hung-{i}": _spec(f"git://127.0.0.1:{port}/r.git") for i in range(HUNG_APPS)}
    healthy = {f"ok-{i}": _spec(git_repo.git_url) for i in range(HEALTHY_APPS)}
    started = time.monotonic()
    try:
        failed, resolved, busy = await _reconcile_all(
            sources, hung | healthy, deadline=started + 6 * IDLE
        )
    finally:
        sources.close()
    elapsed = time.monotonic() - started

    # The hang is detected at the first idle timeout; within about one more,
    # every app of the repository has said so (not eight, not one wave per timeout).
    assert sorted(set(hung) - set(failed)) == []
    assert max(failed.values()) < 2 * IDLE, sorted(failed.values())[-5:]
    # Apps of the healthy repository, queued behind the hung ones, were not held up:
    # all of them resolved before the hung listing even timed out.
    assert sorted(resolved) == sorted(healthy)
    assert max(resolved.values()) < min(failed.values()), (resolved, min(failed.values()))
    # One listing at the silent server at a time: no worker per app hanging there.
    assert len(accepted) <= elapsed / IDLE + 1
    assert busy > 0  # apps went back to the queue rather than wait the timeout out


async def test_a_refresh_turned_away_by_a_busy_repository_still_sees_the_new_commit(
    git_repo: GitRepo, tmp_path
) -> None:
    sources = Sources(git.RepoCache(tmp_path / "cache"), max_age=30.0)
    sources.pools.gates.patience = 0.2
    spec = _spec(git_repo.git_url)
    try:
        await sources.resolve(spec, None, None)
        pushed = git_repo.commit({"app/cm.yaml": "kind: ConfigMap\n"}, "after the listing")
        await asyncio.sleep(1.1)  # past the window a refresh accepts
        async with sources.pools.gate(git_repo.git_url):  # another call holds the repository
            with pytest.raises(RepositoryBusy):
                await sources.resolve(spec, None, None, since=time.monotonic())
        # The app comes back as a routine pass: it lists, not the listing before the push.
        assert await sources.resolve(spec, None, None) == pushed
    finally:
        sources.close()
