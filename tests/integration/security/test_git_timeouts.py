"""A Git server that accepts the connection and never answers cannot hold Tether up.

The server here is a real socket that accepts and stays silent. Every Git
operation has an idle timeout, so the call fails naming it and releases the
repository lock; Git work runs in a bounded pool with one thread per
repository, so a healthy repository keeps resolving and rendering meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tether.adapters import git
from tether.adapters.git import timeouts
from tether.controller.sources.step import Sources
from tether.engine.application import parse_spec

IDLE = 3.0


class SilentServer:
    """Accepts every connection, reads nothing, answers nothing."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._thread.join(5)
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def short_timeouts() -> Iterator[None]:
    timeouts.apply(connect=IDLE, idle=IDLE)
    yield
    timeouts.apply(connect=timeouts.CONNECT_TIMEOUT, idle=timeouts.IDLE_TIMEOUT)


@pytest.mark.parametrize("scheme", ["git", "http", "https"])
def test_a_silent_server_times_out_naming_the_timeout_and_frees_the_lock(
    silent: SilentServer, repo_cache: git.RepoCache, short_timeouts: None, scheme: str
) -> None:
    url = f"{scheme}://tether:s3cret-token@127.0.0.1:{silent.port}/repo.git"
    started = time.monotonic()
    with pytest.raises(git.GitError) as info:
        repo_cache.resolve(url, "main")
    assert time.monotonic() - started < IDLE * 4
    message = str(info.value)
    assert f"{IDLE:g}s (idle timeout)" in message
    assert "s3cret-token" not in message and "tether:" not in message
    assert silent.accepted
    assert repo_cache.lock(url).acquire(timeout=0.1)
    repo_cache.lock(url).release()


async def test_a_silent_repository_does_not_starve_a_healthy_one(
    silent: SilentServer, git_server, tmp_path, short_timeouts: None
) -> None:
    healthy = git_server.create_repo(
        files={"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n"}
    )
    sources = Sources(git.RepoCache(tmp_path / "cache"), git_workers=2, render_workers=1)
    try:
        silent_app = parse_spec(
            {
                "source": {"repoURL": f"git://127.0.0.1:{silent.port}/r.git", "path": "a"},
                "destination": {"namespace": "d"},
            }
        )
        stuck = [silent_app] * 6  # more apps on the silent repository than Git threads
        good = parse_spec(
            {
                "source": {"repoURL": healthy.git_url, "path": "app", "targetRevision": "main"},
                "destination": {"namespace": "d"},
            }
        )
        waiting = [asyncio.create_task(sources.resolve(s, None, None)) for s in stuck]
        await asyncio.sleep(0.2)
        sha = await sources.resolve(good, None, None)
        result = await sources.render("good", good, sha, None, app_name="good")
        assert result.objects[0]["metadata"]["name"] == "ok"
        assert not all(task.done() for task in waiting)  # done while the silent ones still wait
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(o, git.GitError) and "idle timeout" in str(o) for o in outcomes), [
            repr(o) for o in outcomes
        ]
        assert len(silent.accepted) == 1  # one listing for the repository, not one per app
    finally:
        sources.close()
