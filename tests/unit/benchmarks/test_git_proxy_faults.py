"""The chaos Git proxy forwards, holds (a tarpit) or breaks fetches from a real git daemon."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.harness import GitServer
from chaos.gitproxy import GitProxy


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[GitServer, GitProxy]]:
    git = GitServer(tmp_path / "git")
    git.commit({"a.txt": "a"}, "first")
    proxy = GitProxy(git.port, hold=3.0)
    try:
        yield git, proxy
    finally:
        proxy.close()
        git.close()


def _ls_remote(git: GitServer, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "ls-remote", url, "refs/heads/main"],
        env=git.env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_outside_an_episode_fetches_pass_through(served: tuple[GitServer, GitProxy]) -> None:
    git, proxy = served
    done = _ls_remote(git, proxy.url("bench.git"))
    assert done.returncode == 0 and "refs/heads/main" in done.stdout


def test_errors_episode_makes_every_fetch_fail(served: tuple[GitServer, GitProxy]) -> None:
    git, proxy = served
    proxy.fault("errors")
    results = [_ls_remote(git, proxy.url("bench.git")) for _ in range(4)]
    assert all(r.returncode != 0 for r in results)
    proxy.heal()
    assert _ls_remote(git, proxy.url("bench.git")).returncode == 0


def test_tarpit_holds_a_fetch_then_drops_it(served: tuple[GitServer, GitProxy]) -> None:
    git, proxy = served
    proxy.fault("slow")
    started = time.monotonic()
    done = _ls_remote(git, proxy.url("bench.git"))
    assert done.returncode != 0
    assert time.monotonic() - started >= 2.5  # held for ``hold`` seconds, not refused
    proxy.heal()
    assert _ls_remote(git, proxy.url("bench.git")).returncode == 0
