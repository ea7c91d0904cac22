"""Apps queued behind a Git listing that hangs to its timeout share its failure.

Found by the chaos suite (git-slow, a tarpit): with a poll shorter than the
idle timeout the failure was remembered from when the listing started, so it
was stale the moment it arrived; each queued app listed again and hung the
timeout out in turn, and for minutes only one app at a time said anything.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from fixtures.tarpit import silent_server
from tether.adapters import git
from tether.controller.sources.step import Sources
from tether.engine.application import parse_spec

IDLE = 2.0


@pytest.fixture
def tarpit() -> Iterator[tuple[int, list[socket.socket]]]:
    with silent_server(IDLE) as server:
        yield server


async def test_apps_queued_behind_a_hung_listing_fail_with_it_when_poll_is_short(
    tarpit: tuple[int, list[socket.socket]], tmp_path
) -> None:
    port, accepted = tarpit
    sources = Sources(
        git.RepoCache(tmp_path / "cache"), git_workers=2, render_workers=1, max_age=IDLE / 4
    )
    try:
        spec = parse_spec(
            {
                "source": {"repoURL": f"git://127.0.0.1:{port}/r.git", "path": "a"},
                "destination": {"namespace": "d"},
            }
        )
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(sources.resolve(spec, None, None) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(o, git.GitError) and "idle timeout" in str(o) for o in outcomes)
        assert len(accepted) == 1  # one hung listing, not one per app
        assert time.monotonic() - started < IDLE * 3
    finally:
        sources.close()
