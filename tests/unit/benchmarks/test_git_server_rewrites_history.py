"""The benchmark Git server can rewrite its history, as the chaos load's force-push does."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.harness import GitServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitServer]:
    git = GitServer(tmp_path / "git")
    try:
        yield git
    finally:
        git.close()


def _remote_head(git: GitServer) -> str:
    out = subprocess.run(
        ["git", "ls-remote", git.url, "refs/heads/main"],
        env=git.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()[0]


def test_a_rewound_clone_force_pushes_a_commit_that_drops_the_later_ones(
    server: GitServer,
) -> None:
    first, _ = server.commit({"a.txt": "1"}, "one")
    second, _ = server.commit({"a.txt": "2"}, "two")
    third, _ = server.commit({"a.txt": "3"}, "three")

    assert server.rewind(2) == first
    assert (server.work / "a.txt").read_text() == "1"
    rewritten, _ = server.commit({"b.txt": "x"}, "rewritten", force=True)

    assert _remote_head(server) == rewritten
    assert rewritten not in (second, third)
    parent = subprocess.run(
        ["git", "rev-parse", f"{rewritten}~1"],
        cwd=server.work,
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert parent == first


def test_a_push_over_a_rewound_history_without_force_is_refused(server: GitServer) -> None:
    server.commit({"a.txt": "1"}, "one")
    server.commit({"a.txt": "2"}, "two")
    server.rewind(1)

    with pytest.raises(RuntimeError, match="push"):
        server.commit({"b.txt": "x"}, "diverged")
