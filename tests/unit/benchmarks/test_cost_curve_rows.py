"""The cost curve in docs/performance.md: a row per (N, replicas), RSS per app over all replicas."""

import json
from pathlib import Path
from typing import Any

import pytest
from bench import __main__ as bench_main
from bench import report, scale, scalereport


def _phase(name: str, seconds: float, complete: bool = True) -> dict[str, Any]:
    return {
        "phase": name,
        "complete": complete,
        "seconds_to_all": seconds if complete else None,
        "apps_done": 4000,
        "tether_cpu_seconds": 100.0,
        "control_plane_cpu_seconds": 50.0,
        "api_requests_per_app": 9.5,
        "load_average_before": [3.0, 2.0, 1.0],
        "load_average_after": [5.5, 3.0, 1.0],
    }


SINGLE = {
    "n": 5000,
    "replicas": 1,
    "run_at": "20261202-150000",
    "tether_idle_rss_mib": 80.0,
    "tether": {"peak_rss_mib": 280.0},
    "phases": [_phase("create", 300.0), _phase("update", 200.0)],
}
SHARDED = {
    "n": 5000,
    "replicas": 3,
    "run_at": "20261202-153000",
    "tether_idle_rss_mib_by_replica": [80.0, 80.0, 80.0],
    "tether": {
        "peak_rss_mib": 160.0,
        "by_replica": [{"peak_rss_mib": 150.0}, {"peak_rss_mib": 160.0}, {"peak_rss_mib": 140.0}],
    },
    "phases": [_phase("create", 250.0), _phase("update", 100.0, complete=False)],
}


def test_per_app_memory_counts_every_replica_above_its_idle_size() -> None:
    assert scalereport.per_app_kib(SINGLE) == 41.0  # 200 MiB over 5,000 apps
    assert scalereport.per_app_kib(SHARDED) == 43.0  # (450 - 240) MiB over 5,000 apps


def test_a_sharded_row_shows_each_replicas_peak_and_an_incomplete_phase_as_such() -> None:
    line = scalereport.row(SHARDED)
    assert line.startswith("| 5,000 | 3 | 250.0 | incomplete: 4000/5,000 | 150.0 / 160.0 / 140.0 |")
    assert "| 200.0 | 100.0 | 9.50 / 9.50 | 3.0 -> 5.5 ; 3.0 -> 5.5 |" in line


def test_rows_are_ordered_by_apps_then_replicas() -> None:
    lines = scalereport.cost_curve(
        {"5000": SINGLE}, {"5000x3": SHARDED, "100x3": {**SHARDED, "n": 100}}
    )
    table = [ln for ln in lines if ln.startswith("| ") and ln[2].isdigit()]
    assert [ln.split("|")[1:3] for ln in table] == [
        [" 100 ", " 3 "],
        [" 5,000 ", " 1 "],
        [" 5,000 ", " 3 "],
    ]


def test_sharded_runs_are_kept_apart_from_single_controller_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_main, "RESULTS", tmp_path)
    monkeypatch.setattr(report, "environment", lambda: {})
    bench_main._save("mttp-5000x3", SHARDED, "20261202-153000", "custom", "r1")
    bench_main._save("mttp-5000", SINGLE, "20261202-150000", "custom", "r1")
    scenarios = json.loads((tmp_path / "latest.json").read_text())["scenarios"]
    assert list(scenarios["mttp"]) == ["5000"]
    assert list(scenarios["mttp_replicas"]) == ["5000x3"]


def test_only_large_runs_raise_the_api_servers_inflight_limits() -> None:
    assert scale.apiserver_flags(1000) == ()
    assert "--max-mutating-requests-inflight=800" in scale.apiserver_flags(10000)


def test_a_phase_cut_short_by_hand_is_shown_as_not_measured_with_the_runs_note() -> None:
    cut = {**SINGLE, "note": "update paused to leave time for the next run"}
    cut["phases"] = [_phase("create", 300.0), {**_phase("update", 0.0, False), "cut_short": True}]
    assert "| 300.0 | not measured |" in scalereport.row(cut)
    lines = scalereport.cost_curve({"5000": cut}, {})
    assert "- 5,000 x 1: update paused to leave time for the next run" in lines
