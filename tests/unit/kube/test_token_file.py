"""The ServiceAccount token file is read again when the kubelet rotates it."""

from __future__ import annotations

import os
from pathlib import Path

from tether.adapters.kube.token import TokenFile


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rotate(path: Path, token: str) -> None:
    """As the kubelet does: write a new file beside it and swap it in."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_text(token + "\n")
    os.replace(fresh, path)


def test_a_rotated_token_is_read_on_the_next_check(tmp_path: Path) -> None:
    path, clock = tmp_path / "token", Clock()
    path.write_text("first\n")
    source = TokenFile(str(path), clock=clock)
    assert source.token() == "first"
    rotate(path, "second")
    clock.now += 1.0
    assert source.token() == "second"


def test_an_unchanged_file_is_not_read_again_until_it_is_stale(tmp_path: Path) -> None:
    path, clock = tmp_path / "token", Clock()
    path.write_text("first")
    source = TokenFile(str(path), clock=clock, max_age=60)
    for _ in range(30):
        clock.now += 1.5
        assert source.token() == "first"
    assert source.reads == 1
    clock.now += 60
    assert source.token() == "first"
    assert source.reads == 2


def test_checks_are_at_most_once_a_second(tmp_path: Path) -> None:
    path, clock = tmp_path / "token", Clock()
    path.write_text("first")
    source = TokenFile(str(path), clock=clock)
    rotate(path, "second")
    clock.now += 0.5
    assert source.token() == "first"
    assert source.token(force=True) == "second"


def test_an_unreadable_or_empty_file_keeps_the_last_good_token(tmp_path: Path) -> None:
    path, clock = tmp_path / "token", Clock()
    path.write_text("good")
    source = TokenFile(str(path), clock=clock)
    path.unlink()
    clock.now += 120
    assert source.token() == "good"
    path.write_text("")
    clock.now += 120
    assert source.token() == "good"
    rotate(path, "better")
    clock.now += 1
    assert source.token() == "better"


def test_an_initial_token_is_not_read_twice(tmp_path: Path) -> None:
    path, clock = tmp_path / "token", Clock()
    path.write_text("first")
    source = TokenFile(str(path), initial="first", clock=clock)
    clock.now += 5
    assert source.token() == "first"
    assert source.reads == 0
