"""Tether beside Flux in docs/performance.md: ratios only between runs of the same invocation."""

from typing import Any

from bench import peerreport, report
from bench.__main__ import _peer_run


def _run(run_id: str, create: float, update: float, **extra: Any) -> dict[str, Any]:
    phases = [
        {
            "phase": name,
            "complete": True,
            "seconds_to_all": seconds,
            "load_average_before": [3.25, 2.0, 1.0],
            "tether_cpu_seconds": 10.0,
            "peer_cpu_seconds": 40.0,
            "control_plane_cpu_seconds": 20.0,
        }
        for name, seconds in (("create", create), ("update", update))
    ]
    return {"run_id": run_id, "phases": phases, **extra}


TETHER = {"100": _run("r1", 10.0, 5.0, tether={"peak_rss_mib": 100.0})}
FLUX = {"100": _run("r1", 30.0, 25.0, flux={"peak_rss_mib": 300.0, "tmpfs_peak_mib": 40.0})}


def test_tether_faster_is_the_peer_time_over_tethers() -> None:
    assert peerreport.times_faster(10.0, 30.0) == 3.0
    assert peerreport.times_faster(None, 30.0) is None
    assert peerreport.times_faster(0.0, 30.0) is None


def test_memory_share_is_tethers_figure_over_the_peers() -> None:
    assert peerreport.share(100.0, 300.0) == 0.33
    assert peerreport.share(100.0, None) is None


def test_an_incomplete_phase_has_no_time_and_so_no_ratio() -> None:
    run = _run("r1", 10.0, 5.0)
    run["phases"][0]["complete"] = False
    assert peerreport.seconds(run, "create") is None
    assert peerreport.seconds(run, "update") == 5.0


def test_same_run_rows_carry_the_ratios_and_tmpfs_beside_the_rss() -> None:
    rows = peerreport.side_by_side(TETHER, FLUX, "flux")
    assert rows[0].startswith("| N | Tether create | Flux create | Tether faster")
    row = rows[2]
    assert "**3.0x**" in row and "**5.0x**" in row
    assert "300.0 MiB + 40 MiB tmpfs" in row
    assert "| 0.33 |" in row
    assert "20.0s / 80.0s" in row  # CPU, create + update
    assert "3.2 / 3.2" in row  # load average at each push


def test_rows_from_different_runs_show_no_ratio() -> None:
    other = {"100": dict(FLUX["100"], run_id="r2")}
    row = peerreport.side_by_side(TETHER, other, "flux")[2]
    assert "(different runs)" in row
    assert row.count(f"**{peerreport.NONE}**") == 2


def test_a_size_measured_only_for_the_peer_is_left_out() -> None:
    assert peerreport.side_by_side({}, FLUX, "flux") == []


def test_goal_at_1000_apps_names_each_part_met_or_not() -> None:
    tether = {"1000": _run("r1", 50.0, 30.0, tether={"peak_rss_mib": 120.0})}
    flux = {"1000": _run("r1", 300.0, 120.0, flux={"peak_rss_mib": 377.0})}
    text = peerreport.goal(tether, flux)
    assert "create 6.0x (met)" in text
    assert "update 4.0x (NOT met)" in text
    assert "memory 0.32 (met)" in text


def test_goal_is_not_judged_across_runs() -> None:
    tether = {"1000": _run("r1", 50.0, 30.0)}
    flux = {"1000": _run("r2", 300.0, 120.0)}
    assert "not measured in one run" in peerreport.goal(tether, flux)


def test_peer_results_are_told_from_tethers_own_by_name() -> None:
    assert _peer_run("flux-mttp-100") == ("flux", "100")
    assert _peer_run("argocd-mttp-1000") == ("argocd", "1000")
    assert _peer_run("mttp-100") is None
    assert _peer_run("idle") is None


def test_the_hand_measured_tail_of_the_document_is_kept_verbatim() -> None:
    current = f"# Performance\n\nold generated text\n\n{report.HAND_HEADING}\n\n| a | 1 |\n"
    kept = report.hand_measured(current)
    assert kept[0] == report.HAND_MARKER
    assert kept[-1].endswith("| a | 1 |")
    regenerated = report.render({}, "\n".join(kept))
    assert regenerated.count("| a | 1 |") == 1
    assert report.hand_measured(regenerated) == [
        regenerated[regenerated.index(report.HAND_MARKER) :].rstrip()
    ]


def test_a_phase_that_stopped_progressing_before_its_timeout_reads_as_stalled() -> None:
    tether = {"100": _run("r1", 10.0, 5.0)}
    tether["100"]["phases"][0].update(
        complete=False, apps_done=80, wall_seconds=95.0, timeout_seconds=210.0
    )
    row = peerreport.side_by_side(tether, FLUX, "flux")[2]
    assert "stalled: 80/100 after 95s" in row


def test_a_peer_that_could_not_run_says_why_in_the_report() -> None:
    latest = {
        "scenarios": {
            "mttp": TETHER,
            "peers": {"argocd": {"100": {"run_id": "r1", "error": "RuntimeError: no redis"}}},
        }
    }
    text = report.render(latest)
    assert "At 100 apps Argo CD could not be measured: RuntimeError: no redis" in text


def test_peer_memory_is_broken_down_by_process() -> None:
    runs = {
        "500": {"flux": {"controllers": {"a": {"peak_rss_mib": 90.4}, "b": {"peak_rss_mib": 20}}}},
        "100": {"flux": {"controllers": {"a": {"peak_rss_mib": 80.0}}}},
    }
    assert peerreport.by_process(runs, "flux") == "100 apps: a 80 MiB; 500 apps: a 90 MiB, b 20 MiB"
