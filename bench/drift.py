"""Scenario 3, drift-to-healed latency: ``kubectl scale`` a managed Deployment, time the revert.

One Application with ``selfHeal: true`` whose Deployment is at 0 replicas in
Git. Each trial runs ``kubectl scale --replicas=3``; a watch on the
Deployment timestamps the moment the API server holds 3 replicas and the
moment Tether has put 0 back, and the difference is the sample (the same
watch delay is on both ends, and kubectl's own start-up is not counted).
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from typing import Any

from bench import manifests
from bench.harness import Watcher, environment, log, percentile

POLL = 60.0


def run(trials: int = 20) -> dict[str, Any]:
    with environment("drift") as env:
        assert env.git is not None
        env.ingress_controller()
        tracker = env.tracker()
        sha, _ = env.git.commit(manifests.app_files(0), "app-0")
        ctl = env.controller(poll=POLL)
        tracker.expect(sha)
        env.create_apps([manifests.application(0, env.git.url)])
        if not tracker.wait(["app-0"], 60):
            raise RuntimeError(f"app-0 never became Synced and Healthy: {tracker.summary()}")
        lock = threading.Condition()
        marks: dict[str, float] = {}

        def handle(_event: str, obj: dict[str, Any]) -> None:
            replicas = (obj.get("spec") or {}).get("replicas")
            now = time.monotonic()
            with lock:
                if replicas == 3 and "scaled" not in marks:
                    marks["scaled"] = now
                elif replicas == 0 and "scaled" in marks and "healed" not in marks:
                    marks["healed"] = now
                lock.notify_all()

        watcher = Watcher(
            env,
            "/apis/apps/v1/namespaces/app-0/deployments",
            handle,
            {"fieldSelector": "metadata.name=app-0"},
        )
        samples: list[float] = []
        misses = 0
        rng = random.Random(11)
        for _ in range(trials):
            with lock:
                marks.clear()
            subprocess.run(
                [
                    "kubectl",
                    "--kubeconfig",
                    env.state.kubeconfig,
                    "-n",
                    "app-0",
                    "scale",
                    "deployment/app-0",
                    "--replicas=3",
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
            with lock:
                ok = lock.wait_for(lambda: "healed" in marks, timeout=30)
                if ok:
                    samples.append(marks["healed"] - marks["scaled"])
                else:
                    misses += 1
            time.sleep(rng.uniform(0.2, 0.5))
        watcher.close()
        totals = ctl.stop()
        result = {
            "trials": trials,
            "missed": misses,
            "p50_seconds": percentile(samples, 0.5),
            "p95_seconds": percentile(samples, 0.95),
            "max_seconds": round(max(samples), 3) if samples else None,
            "samples": [round(s, 3) for s in samples],
            "tether": totals,
            "controller_errors": ctl.errors(),
        }
        log(
            f"drift: p50 {result['p50_seconds']}s p95 {result['p95_seconds']}s "
            f"over {len(samples)} trials"
        )
        return result
