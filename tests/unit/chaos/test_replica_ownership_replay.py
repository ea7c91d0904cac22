"""The replicas' ownership log, replayed: two owners at once and slow take-overs are found."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[3])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from chaos.ownership import Ownership  # noqa: E402

T0 = datetime(2026, 12, 2, 12, 0, 0).timestamp()


def _line(at: float, who: str, what: str, apps: list[str]) -> str:
    stamp = datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    return (
        f"{stamp} INFO tether.controller.sharding: sharding: {who} {what} "
        f"{len(apps)} apps: {','.join(apps)}\n"
    )


def _log(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "controller.log"
    with path.open("a") as f:
        f.write("".join(lines))
    return path


def test_an_app_handed_over_after_the_old_owner_stopped_is_fine(tmp_path: Path) -> None:
    path = _log(
        tmp_path,
        _line(T0, "r0", "owns", ["a", "b"]),
        _line(T0 + 1, "r0", "stopped", ["b"]),
        _line(T0 + 2, "r1", "owns", ["b"]),
    )
    assert Ownership(path).scan() == []


def test_an_app_taken_while_its_owner_still_holds_it_is_a_violation(tmp_path: Path) -> None:
    path = _log(tmp_path, _line(T0, "r0", "owns", ["a"]), _line(T0 + 1, "r1", "owns", ["a"]))
    found = Ownership(path).scan()
    assert found == ["a: r1 owns it while r0 still does"]


def test_a_killed_replicas_apps_owned_again_in_time_count_their_gap(tmp_path: Path) -> None:
    path = _log(
        tmp_path,
        _line(T0, "r0", "owns", ["a"]),
        f"\n---- kill r0 at {T0 + 1:.3f}\n",
        _line(T0 + 12, "r1", "owns", ["a"]),
    )
    owners = Ownership(path, limit=14)
    assert owners.scan() == []
    assert [round(g) for g in owners.gaps] == [11]


def test_an_app_nobody_owns_long_after_a_kill_is_a_violation(tmp_path: Path) -> None:
    path = _log(tmp_path, _line(T0, "r0", "owns", ["a"]), f"---- kill r0 at {T0:.3f}\n")
    owners = Ownership(path, limit=14)
    assert owners.scan(now=T0 + 5) == []
    assert owners.scan(now=T0 + 20) == [
        "a: no replica owns it 20.0s after r0 was killed (limit 14s)"
    ]
    late = _log(tmp_path, _line(T0 + 30, "r1", "owns", ["a"]))
    assert Ownership(late, limit=14).scan()[-1].startswith("a: owned by r1 only 30.0s after r0")


def test_a_half_written_line_waits_for_its_end(tmp_path: Path) -> None:
    line = _line(T0, "r0", "owns", ["a"])
    path = _log(tmp_path, _line(T0, "r1", "owns", ["b"]), line[:20])
    owners = Ownership(path)
    owners.scan()
    _log(tmp_path, line[20:], _line(T0 + 1, "r2", "owns", ["a"]))
    assert owners.scan() == ["a: r2 owns it while r0 still does"]
