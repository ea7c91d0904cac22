"""Scenario 2, push-to-synced latency for one app: p50/p95 over 20 commits.

One Application; each commit changes its Deployment's image tag. The clock
starts when ``git push`` returns and stops when the watch shows the
Application Synced at that commit and Healthy. First with polling only (the
webhook is not sent; poll interval 3 s, so that 20 commits fit in the quick
run: with polling the wait is about half an interval plus the sync, whatever
the interval), then with a signed webhook sent right after each push. With
polling, a random pause (0 to one interval) between commits puts each push at
a random phase of the poll timer, as real pushes are.
"""

from __future__ import annotations

import random
import time
from typing import Any

from bench import manifests
from bench.harness import environment, log, percentile

POLL = 3.0


def run(commits: int = 20) -> dict[str, Any]:
    with environment("latency") as env:
        assert env.git is not None
        env.ingress_controller()
        tracker = env.tracker()
        sha, _ = env.git.commit(manifests.app_files(0), "app-0")
        ctl = env.controller(poll=POLL)
        tracker.expect(sha)
        env.create_apps([manifests.application(0, env.git.url)])
        if not tracker.wait(["app-0"], 60):
            raise RuntimeError(f"app-0 never became Synced and Healthy: {tracker.summary()}")
        rng = random.Random(7)
        modes = ["poll"] + (["webhook"] if ctl.webhook else [])
        results: dict[str, Any] = {}
        tag = 0
        for mode in modes:
            samples: list[float] = []
            misses = 0
            for _ in range(commits):
                tag += 1
                files = {
                    "apps/app-0/deployment.yaml": manifests.app_files(0, f"6.7.{tag}")[
                        "apps/app-0/deployment.yaml"
                    ]
                }
                sha, pushed = env.git.commit(files, f"{mode} commit {tag}")
                tracker.expect(sha)
                if mode == "webhook":
                    ctl.push_webhook(env.git.url)
                if tracker.wait(["app-0"], 4 * POLL + 30):
                    samples.append(tracker.done_at["app-0"] - pushed)
                else:
                    misses += 1
                # A random phase against the poll timer, as real pushes have.
                time.sleep(rng.uniform(0.0, POLL) if mode == "poll" else rng.uniform(0.1, 0.3))
            results[mode] = {
                "commits": commits,
                "missed": misses,
                "p50_seconds": percentile(samples, 0.5),
                "p95_seconds": percentile(samples, 0.95),
                "max_seconds": round(max(samples), 3) if samples else None,
                "min_seconds": round(min(samples), 3) if samples else None,
                "samples": [round(s, 3) for s in samples],
            }
            log(
                f"latency {mode}: p50 {results[mode]['p50_seconds']}s "
                f"p95 {results[mode]['p95_seconds']}s over {len(samples)} commits"
            )
        if not ctl.webhook:
            results["webhook"] = {"unavailable": "no /api/webhook answered on --listen"}
        totals = ctl.stop()
        return {
            "poll_interval_seconds": POLL,
            "modes": results,
            "tether": totals,
            "controller_errors": ctl.errors(),
        }
