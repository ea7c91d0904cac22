"""Scenario 5, selective re-render: a commit touching 1 of N app paths.

N apps synced from one repository; one commit changes only
``apps/app-7/deployment.yaml``. Every app sees the new commit (the webhook
refreshes every Application on the repository, or their polls do), but only
app-7 should be rendered again: the others reuse their previous render
because the commit does not touch their path. Renders are counted from
Tether's own ``/metrics`` (``tether_renders_total{result="rendered"}``)
before and after; the times are push-to-app-7-synced and push-to-every-app-
at-the-new-revision.
"""

from __future__ import annotations

import time
from typing import Any

from bench import manifests
from bench.harness import Window, environment, log

POLL_WITH_WEBHOOK = 60.0
POLL_WITHOUT_WEBHOOK = 10.0
TOUCHED = 7


def _renders(metrics: dict[str, float] | None) -> tuple[float, float] | None:
    if not metrics:
        return None
    return (
        metrics.get('tether_renders_total{result="rendered"}', 0.0),
        metrics.get('tether_renders_total{result="reused"}', 0.0),
    )


def run(n: int) -> dict[str, Any]:
    with environment(f"selective-{n}") as env:
        assert env.git is not None
        env.ingress_controller()
        tracker = env.tracker()
        sha, _ = env.git.commit(manifests.all_files(n), f"{n} apps")
        ctl = env.controller(poll=POLL_WITH_WEBHOOK)
        if not ctl.webhook:
            ctl.stop()
            ctl = env.controller(poll=POLL_WITHOUT_WEBHOOK)
        names = [manifests.app_name(i) for i in range(n)]
        tracker.expect(sha)
        env.create_apps(manifests.applications(n, env.git.url))
        if not tracker.wait(names, 60 + 0.3 * n):
            log(f"selective: not all apps synced first: {tracker.summary()}")
        time.sleep(3.0)
        before = _renders(ctl.metrics())
        touched = manifests.app_name(TOUCHED)
        path = f"apps/{touched}/deployment.yaml"
        window = Window(env, ctl)
        sha, pushed = env.git.commit(
            {path: manifests.app_files(TOUCHED, "6.8.0")[path]}, f"change {touched} only"
        )
        tracker.expect(sha)
        if ctl.webhook:
            ctl.push_webhook(env.git.url)
        ok = tracker.wait([touched], 120)
        touched_at = tracker.done_at.get(touched)
        all_ok = tracker.wait_revision(names, sha, 60 + 0.3 * n)
        all_at = time.monotonic()
        measured = window.close()
        time.sleep(1.0)
        after = _renders(ctl.metrics())
        totals = ctl.stop()
        result: dict[str, Any] = {
            "n": n,
            "trigger": "webhook" if ctl.webhook else f"poll {POLL_WITHOUT_WEBHOOK:.0f}s",
            "touched_app_synced": ok,
            "seconds_to_touched_app_synced": round(touched_at - pushed, 2) if touched_at else None,
            "all_apps_at_new_revision": all_ok,
            "seconds_to_all_apps_at_new_revision": round(all_at - pushed, 2) if all_ok else None,
            "renders": None if before is None or after is None else int(after[0] - before[0]),
            "render_reuses": None if before is None or after is None else int(after[1] - before[1]),
            "render_count_source": "Tether /metrics tether_renders_total"
            if before is not None
            else "unavailable (no /metrics)",
            **measured,
            "tether": totals,
            "controller_errors": ctl.errors(),
        }
        log(
            f"selective-{n}: {result['renders']} render(s), {touched} synced in "
            f"{result['seconds_to_touched_app_synced']}s, all at new revision in "
            f"{result['seconds_to_all_apps_at_new_revision']}s"
        )
        return result
