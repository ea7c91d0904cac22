"""Is a series flat? Least-squares slopes and latency summaries for the soak, on plain data.

A leak shows as a slope: RSS, open file descriptors, threads or asyncio tasks
that keep rising under a steady load. Noise shows as scatter around the fitted
line. A series is called flat when what the slope adds up to over the measured
window is no larger than twice the residual standard deviation (the noise band):
a trend that small cannot be told from the scatter of a half-hour run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

HOUR = 3600.0


@dataclass(frozen=True)
class Trend:
    """A straight line through (seconds, value) samples, the slope given per hour."""

    samples: int
    mean: float
    first: float
    last: float
    slope_per_hour: float
    slope_stderr_per_hour: float
    residual_std: float
    window_hours: float

    @property
    def change_over_window(self) -> float:
        return self.slope_per_hour * self.window_hours

    @property
    def flat(self) -> bool:
        return abs(self.change_over_window) <= 2 * self.residual_std

    def as_dict(self, digits: int = 3) -> dict[str, Any]:
        out: dict[str, Any] = {k: round(v, digits) for k, v in asdict(self).items()}
        out["samples"] = self.samples
        out["change_over_window"] = round(self.change_over_window, digits)
        out["flat"] = self.flat
        return out


def trend(times: Sequence[float], values: Sequence[float]) -> Trend | None:
    """The least-squares line of ``values`` over ``times`` (seconds); None under 3 samples."""
    if len(times) != len(values):
        raise ValueError("times and values differ in length")
    n = len(values)
    if n < 3:
        return None
    hours = [t / HOUR for t in times]
    mt, mv = sum(hours) / n, sum(values) / n
    sxx = sum((h - mt) ** 2 for h in hours)
    if sxx == 0:
        return None
    slope = sum((h - mt) * (v - mv) for h, v in zip(hours, values, strict=True)) / sxx
    residuals = [v - (mv + slope * (h - mt)) for h, v in zip(hours, values, strict=True)]
    resid_std = math.sqrt(sum(r * r for r in residuals) / (n - 2))
    return Trend(
        samples=n,
        mean=mv,
        first=float(values[0]),
        last=float(values[-1]),
        slope_per_hour=slope,
        slope_stderr_per_hour=resid_std / math.sqrt(sxx),
        residual_std=resid_std,
        window_hours=hours[-1] - hours[0],
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (as numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def latency(values: Sequence[float], missed: int = 0) -> dict[str, Any]:
    """Count, p50, p99 and max of latencies in seconds; ``missed`` never arrived."""

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {
        "count": len(values),
        "missed": missed,
        "p50_seconds": r(percentile(values, 0.5)),
        "p99_seconds": r(percentile(values, 0.99)),
        "max_seconds": r(max(values)) if values else None,
    }


def after_warmup(
    samples: Sequence[dict[str, float]], warmup_seconds: float
) -> list[dict[str, float]]:
    """The samples taken at or after ``warmup_seconds`` (each has a ``t`` in seconds)."""
    return [s for s in samples if s["t"] >= warmup_seconds]


def trends(samples: Sequence[dict[str, float]], keys: Sequence[str]) -> dict[str, Trend | None]:
    """One trend per key, over the samples that have it."""
    out: dict[str, Trend | None] = {}
    for key in keys:
        have = [s for s in samples if s.get(key) is not None]
        out[key] = trend([s["t"] for s in have], [s[key] for s in have])
    return out


def cores_used(samples: Sequence[dict[str, float]]) -> float | None:
    """Average CPU cores the process used between the first and last sample (``cpu`` in s)."""
    if len(samples) < 2:
        return None
    wall = samples[-1]["t"] - samples[0]["t"]
    if wall <= 0:
        return None
    return (samples[-1]["cpu"] - samples[0]["cpu"]) / wall
