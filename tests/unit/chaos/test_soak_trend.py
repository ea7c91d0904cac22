"""The soak's arithmetic on plain data: slopes, the noise band, latencies and CPU."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parents[3])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from chaos.load import Ledger  # noqa: E402
from chaos.soak_meters import Reverts, SyncLatency  # noqa: E402

from chaos import soak_report, trend  # noqa: E402


def _series(per_hour: float, noise: float, minutes: int = 30) -> tuple[list[float], list[float]]:
    rng = random.Random(7)
    times = [10.0 * k for k in range(minutes * 6)]
    return times, [200 + per_hour * t / 3600 + rng.gauss(0, noise) for t in times]


def test_a_steady_climb_is_measured_per_hour_and_called_rising() -> None:
    times, values = _series(per_hour=12.0, noise=0.5)
    fit = trend.trend(times, values)
    assert fit is not None
    assert fit.slope_per_hour == pytest.approx(12.0, abs=1.0)
    assert fit.residual_std == pytest.approx(0.5, abs=0.1)
    assert not fit.flat


def test_noise_without_a_trend_is_flat() -> None:
    times, values = _series(per_hour=0.0, noise=3.0)
    fit = trend.trend(times, values)
    assert fit is not None
    assert fit.flat
    assert abs(fit.slope_per_hour) < 3 * fit.slope_stderr_per_hour + 1e-9


def test_a_constant_series_is_flat_with_no_noise() -> None:
    fit = trend.trend([0.0, 10.0, 20.0, 30.0], [41.0] * 4)
    assert fit is not None
    assert fit.slope_per_hour == 0 and fit.residual_std == 0 and fit.flat


def test_one_step_up_in_a_quiet_series_is_not_flat() -> None:
    fit = trend.trend([10.0 * k for k in range(20)], [40.0] * 10 + [41.0] * 10)
    assert fit is not None and not fit.flat


def test_too_few_samples_give_no_trend() -> None:
    assert trend.trend([0.0, 1.0], [1.0, 2.0]) is None
    assert trend.trend([5.0, 5.0, 5.0], [1.0, 2.0, 3.0]) is None


def test_samples_before_the_warm_up_are_left_out_of_the_slope() -> None:
    # A fast fill of the caches, then flat: the warm-up must not read as a leak.
    samples = [{"t": 10.0 * k, "rss": 100.0 + min(k, 30) * 3.0} for k in range(180)]
    fits = trend.trends(trend.after_warmup(samples, 300.0), ["rss", "absent"])
    assert fits["rss"] is not None and fits["rss"].flat
    assert fits["absent"] is None
    whole = trend.trend([s["t"] for s in samples], [s["rss"] for s in samples])
    assert whole is not None and not whole.flat


def test_latency_percentiles_interpolate_between_ranks() -> None:
    summary = trend.latency([float(v) for v in range(1, 101)], missed=2)
    assert summary == {
        "count": 100,
        "missed": 2,
        "p50_seconds": 50.5,
        "p99_seconds": 99.01,
        "max_seconds": 100.0,
    }
    assert trend.latency([])["p99_seconds"] is None


def test_cores_used_is_cpu_seconds_over_wall_seconds() -> None:
    samples = [{"t": 0.0, "cpu": 10.0}, {"t": 50.0, "cpu": 30.0}, {"t": 100.0, "cpu": 45.0}]
    assert trend.cores_used(samples) == pytest.approx(0.35)
    assert trend.cores_used(samples[:1]) is None


def test_a_push_ends_when_the_app_is_synced_at_a_revision_holding_its_generation() -> None:
    ledger = Ledger(gens=[1, 1], next_gen=[2, 2])
    ledger.at = {"old": (1, 1), "new": (2, 1), "newer": (3, 1)}
    meter = SyncLatency(ledger, lambda name: int(name.removeprefix("chaos-")))
    meter.pushed(0.0, {0: 2})
    meter.pushed(0.0, {0: 3})

    def app(revision: str, status: str = "Synced") -> dict[str, object]:
        return {
            "metadata": {"name": "chaos-0"},
            "status": {"sync": {"status": status, "revision": revision}},
        }

    meter.handle("MODIFIED", app("old"))
    meter.handle("MODIFIED", app("new", "OutOfSync"))
    assert meter.missed() == 2 and not meter.done
    meter.handle("MODIFIED", app("new"))
    assert meter.missed() == 1 and len(meter.done) == 1
    meter.handle("MODIFIED", app("newer"))
    assert meter.missed() == 0 and len(meter.done) == 2


def test_a_drift_is_reverted_by_the_first_later_version_holding_gits_value() -> None:
    reverts = Reverts()
    reverts.drifted("ConfigMap", "chaos-3", "edit", rv=100, at=0.0)

    def cm(rv: int, gen: str) -> dict[str, object]:
        meta = {"namespace": "chaos-3", "resourceVersion": str(rv)}
        return {"metadata": meta, "data": {"gen": gen}}

    reverts.handle("ConfigMap", "MODIFIED", cm(99, "4"))  # an event from before the drift
    reverts.handle("ConfigMap", "MODIFIED", cm(100, "drifted"))  # the drift itself
    reverts.handle("ConfigMap", "MODIFIED", cm(101, "drifted"))
    assert reverts.missed() == 1
    reverts.handle("ConfigMap", "MODIFIED", cm(102, "4"))
    assert reverts.missed() == 0 and len(reverts.done["edit"]) == 1

    reverts.drifted("Deployment", "chaos-3", "scale", rv=200, at=0.0)
    deploy = {"metadata": {"namespace": "chaos-3", "resourceVersion": "201"}}
    reverts.handle("Deployment", "MODIFIED", deploy | {"spec": {"replicas": 2}})
    reverts.handle("Deployment", "DELETED", deploy | {"spec": {"replicas": 0}})
    assert reverts.missed() == 1
    reverts.handle("Deployment", "MODIFIED", deploy | {"spec": {"replicas": 0}})
    assert reverts.missed() == 0


def test_the_report_names_a_rising_series_and_fills_the_docs_section(tmp_path: Path) -> None:
    times, values = _series(per_hour=50.0, noise=0.2)
    rising = trend.trend(times, values)
    assert rising is not None
    lat = trend.latency([0.5, 1.0, 2.0])
    result = {
        "run_at": "20261202T120000Z",
        "apps": 10,
        "minutes": 30.0,
        "commit_every_seconds": 5.0,
        "apps_per_commit": 2,
        "webhook": True,
        "drift_every_seconds": 3.0,
        "commits": 360,
        "drifts": 600,
        "first_sync_seconds": 12.0,
        "samples_after_warmup": 150,
        "warmup_seconds": 300.0,
        "load_average_1m": {"mean": 3.1, "max": 6.0},
        "slopes": {"rss_mib": rising.as_dict(), "tasks": None},
        "push_to_synced": lat,
        "drift_to_reverted": lat | {"superseded": 0},
        "drift_to_reverted_by_kind": {"edit": lat},
        "controller_cores_avg": 0.2,
        "controller_cores_avg_whole_run": 0.3,
        "controller": {"peak_rss_mib": 210.0},
        "control_plane_cpu_seconds": 100.0,
        "controller_errors": [],
        "states_at_end": {"Synced/Healthy": 10},
    }
    text = soak_report.markdown(result)
    assert "| RSS (MiB) |" in text and "**rising**" in text and "not sampled" in text
    doc = tmp_path / "reliability.md"
    doc.write_text(f"# R\n\n## Soak\n\n{soak_report.BEGIN}\nold\n{soak_report.END}\n\n## Next\n")
    assert soak_report.update_docs(result, doc)
    updated = doc.read_text()
    assert "old" not in updated and "20261202T120000Z" in updated and "## Next" in updated
