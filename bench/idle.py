"""Scenario 4, idle cost: N synced apps and no change at all, for a while.

N apps are synced (one commit, Applications created after it), the
controller is left to settle for 5 s, then for the measured window nothing
happens but Tether's own poll timers (the default 60 s interval, ±20 %
jitter). Measured: Tether's CPU seconds per wall second, API-server requests
per minute (``apiserver_request_total`` from kube-apiserver's /metrics before
and after), Git requests per minute (``git daemon --verbose`` log). The
control plane makes requests of its own (leases, kwok's node heartbeats), so
after the window the controller is stopped and the same counters are read
over a baseline window; the difference is Tether's share.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench import manifests
from bench.harness import Window, environment, log

POLL = 60.0


def _rate(delta: Counter[tuple[str, str, str]], seconds: float) -> float:
    return round(sum(delta.values()) * 60.0 / seconds, 1)


def run(n: int, seconds: float, baseline_seconds: float) -> dict[str, Any]:
    with environment(f"idle-{n}") as env:
        assert env.git is not None
        env.ingress_controller()
        tracker = env.tracker()
        sha, _ = env.git.commit(manifests.all_files(n), f"{n} apps")
        ctl = env.controller(poll=POLL)
        names = [manifests.app_name(i) for i in range(n)]
        tracker.expect(sha)
        env.create_apps(manifests.applications(n, env.git.url))
        if not tracker.wait(names, 60 + 0.3 * n):
            log(f"idle: not all apps synced before the window: {tracker.summary()}")
        time.sleep(5.0)
        before = env.apiserver_requests()
        window = Window(env, ctl)
        time.sleep(seconds)
        after = env.apiserver_requests()
        measured = window.close()
        wall = measured["wall_seconds"]
        delta = after - before
        ctl_totals = ctl.stop()
        base_before = env.apiserver_requests()
        base_window = Window(env, None)
        time.sleep(baseline_seconds)
        base_after = env.apiserver_requests()
        base = base_window.close()
        base_delta = base_after - base_before
        per_min = _rate(delta, wall)
        base_per_min = _rate(base_delta, base["wall_seconds"])
        scaled_base = Counter({k: v * wall / base["wall_seconds"] for k, v in base_delta.items()})
        extra = Counter({k: round(v - scaled_base.get(k, 0)) for k, v in delta.items()})
        top = sorted(((k, v) for k, v in extra.items() if v > 0), key=lambda kv: -kv[1])[:12]
        result = {
            "n": n,
            "poll_interval_seconds": POLL,
            "window_seconds": wall,
            "tether_cpu_seconds": measured["tether_cpu_seconds"],
            "tether_cpu_percent_of_one_core": round(100 * measured["tether_cpu_seconds"] / wall, 2),
            "tether_rss_mib": measured["tether_rss_end_mib"],
            "control_plane_cpu_seconds": measured["control_plane_cpu_seconds"],
            "control_plane_cpu_seconds_baseline_same_length": round(
                base["control_plane_cpu_seconds"] * wall / base["wall_seconds"], 2
            ),
            "api_requests_per_minute_total": per_min,
            "api_requests_per_minute_baseline_without_tether": base_per_min,
            "api_requests_per_minute_tether": round(per_min - base_per_min, 1),
            "api_requests_tether_top": [
                {"verb": k[0], "resource": k[1], "dry_run": k[2], "count": v} for k, v in top
            ],
            "git_requests": measured["git_requests"],
            "git_requests_per_minute": round(measured["git_requests"] * 60.0 / wall, 1),
            "baseline_window_seconds": base["wall_seconds"],
            "tether": ctl_totals,
            "states": tracker.summary(),
            "controller_errors": ctl.errors(),
        }
        log(
            f"idle-{n}: tether {result['tether_cpu_percent_of_one_core']}% of a core, "
            f"{result['api_requests_per_minute_tether']} API req/min, "
            f"{result['git_requests_per_minute']} git req/min"
        )
        return result
