"""Scenario 1, mean time to production (after fluxcd/flux-benchmark's MTTP).

N Applications are created up front, each pointing at ``apps/app-<i>/`` of
one repository that does not hold them yet (they reconcile once and report
the missing path). Then one commit adds all N apps, and we measure from the
moment ``git push`` returns until all N Applications are Synced at that
commit and Healthy; then a second commit changes every app's image tag, and
the same again. The push reaches Tether the way it would in production: a
signed GitHub-style webhook to ``/api/webhook`` (poll interval left at the
60 s default); when the endpoint is missing, polling at 10 s instead.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from bench import manifests, scale
from bench.fleet import Fleet
from bench.harness import Window, environment, log, mib, percentile

POLL_WITH_WEBHOOK = 60.0
POLL_WITHOUT_WEBHOOK = 10.0


PHASES = (("create", "6.7.0"), ("update", "6.7.1"))


def run(
    n: int,
    *,
    replicas: int = 1,
    phases: tuple[str, ...] = ("create", "update"),
    profile: Path | None = None,
    memory: Path | None = None,
) -> dict[str, Any]:
    """``phases``: the pushes to measure, in order (``create`` alone when time is short)."""
    label_n = f"{n}x{replicas}" if replicas > 1 else str(n)
    with environment(f"mttp-{label_n}", apiserver_flags=scale.apiserver_flags(n)) as env:
        assert env.git is not None
        ingress = env.ingress_controller()
        tracker = env.tracker()
        env.git.commit({"README.md": "benchmark repository\n"}, "empty repository")
        fleet = Fleet(env, replicas, poll=POLL_WITH_WEBHOOK, profile=profile, memory=memory)
        if not fleet.webhook:
            log("no /api/webhook answering: restarting the controller to poll every 10 s")
            fleet.stop()
            fleet = Fleet(env, replicas, poll=POLL_WITHOUT_WEBHOOK, profile=profile, memory=memory)
        members_ok = fleet.wait_members()
        time.sleep(1.0)
        fleet.snapshot_memory()
        idle_rss = fleet.idle_rss()
        names = [manifests.app_name(i) for i in range(n)]
        started = time.monotonic()
        env.create_apps(manifests.applications(n, env.git.url))
        created_in = time.monotonic() - started
        if not tracker.wait_reconciled(names, timeout=scale.reconciled_timeout(n)):
            log(f"not every Application reconciled before the push: {tracker.summary()}")
        seen_in = time.monotonic() - started
        log(
            f"mttp-{label_n}: {n} Applications created in {created_in:.1f}s "
            f"and seen by Tether after {seen_in:.1f}s"
        )
        time.sleep(1.0)
        measured_phases = []
        for label, tag in [p for p in PHASES if p[0] in phases]:
            files = manifests.all_files(n, tag)
            window = Window(env, None)
            cpu_before = fleet.start_window()
            sent_before = fleet.metrics()
            load_before = [round(x, 2) for x in os.getloadavg()]
            sha, pushed = env.git.commit(files, f"{label} {n} apps")
            tracker.expect(sha)
            refreshed = fleet.first.push_webhook(env.git.url) if fleet.webhook else None
            timeout = scale.phase_timeout(n)
            ok = tracker.wait(names, timeout, stall=scale.stall_seconds(n))
            done = dict(tracker.done_at)
            stuck = [_why(env, a) for a in tracker.stuck(names)] if not ok else []
            times = sorted(done[a] - pushed for a in names if a in done)
            measured = {**window.close(), **fleet.close_window(cpu_before)}
            sent = requests_per_app(sent_before, fleet.metrics(), n)
            fleet.snapshot_memory()
            phase = {
                "phase": label,
                "trigger": "webhook" if fleet.webhook else f"poll {POLL_WITHOUT_WEBHOOK:.0f}s",
                "webhook_refreshed": refreshed,
                "complete": ok,
                "apps_done": len(times),
                "seconds_to_all": round(times[-1], 2) if ok and times else None,
                "seconds_to_first": round(times[0], 2) if times else None,
                "seconds_p50": percentile(times, 0.5),
                "apps_per_second": round(n / times[-1], 1) if ok and times else None,
                "timeout_seconds": timeout,
                "load_average_before": load_before,
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "states_at_end": tracker.summary(),
                "stuck_examples": stuck,
                **sent,
                **measured,
            }
            log(
                f"mttp-{label_n} {label}: {'all' if ok else 'NOT all'} {len(times)}/{n} "
                f"synced+healthy, last at {phase['seconds_to_all']}s; "
                f"tether cpu {measured.get('tether_cpu_seconds')}s, "
                f"peak {measured.get('tether_peak_rss_mib_by_replica')} MiB; "
                f"requests per app {sent.get('api_requests_per_app')} "
                f"{sent.get('api_requests_per_app_by_verb')}; load {phase['load_average_after']}"
            )
            measured_phases.append(phase)
            time.sleep(1.0)
        metrics = fleet.metrics()
        shard_apps = fleet.shard_apps() if replicas > 1 else None
        fences = fleet.fences() if replicas > 1 else None
        errors = fleet.errors()
        totals = fleet.stop()
        return {
            "n": n,
            "replicas": replicas,
            "layout": "one repository, apps/app-<i>/ per app (4 files: Deployment at 0 replicas, "
            "ServiceAccount, Service, Ingress); one namespace per app, created by Tether",
            "apiserver_flags": list(scale.apiserver_flags(n)),
            "apps_created_seconds": round(created_in, 2),
            "apps_seen_seconds": round(seen_in, 2),
            "members_agreed": members_ok,
            "shard_apps": shard_apps,
            "fences_by_replica": fences,
            "tether_idle_rss_mib": mib(max(idle_rss)),
            "tether_idle_rss_mib_by_replica": [mib(r) for r in idle_rss],
            "phases": measured_phases,
            "tether": totals,
            "tether_metrics": {k: v for k, v in metrics.items() if k.startswith("tether_")},
            "ingress_status_patches": ingress.patched,
            "controller_errors": errors,
            "profile": str(profile) if profile else None,
            "memory_snapshots": str(memory) if memory else None,
        }


REQUESTS_METRIC = "tether_kube_requests_total{"


def requests_per_app(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, Any]:
    """Tether's API requests in the phase (its own tether_kube_requests_total), per app:
    in total, by verb (dry runs apart), and by verb and resource."""
    by_kind: dict[str, float] = {}
    by_verb: dict[str, float] = {}
    for name, value in after.items():
        if not name.startswith(REQUESTS_METRIC):
            continue
        sent = value - before.get(name, 0.0)
        if sent <= 0:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', name))
        verb = labels.get("verb", "") + (" (dry run)" if labels.get("dry_run") else "")
        by_verb[verb] = by_verb.get(verb, 0.0) + sent
        kind = f"{verb} {labels.get('resource', '')}"
        by_kind[kind] = by_kind.get(kind, 0.0) + sent
    if not by_verb:
        return {}
    return {
        "api_requests_per_app": round(sum(by_verb.values()) / n, 2),
        "api_requests_per_app_by_verb": {
            k: round(v / n, 2) for k, v in sorted(by_verb.items(), key=lambda kv: -kv[1])
        },
        "api_requests_per_app_by_resource": {
            k: round(v / n, 2) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])
        },
    }


def _why(env: Any, name: str) -> dict[str, Any]:
    """What a stuck Application says about itself (conditions, last operation, resources)."""
    from bench.harness import APPS_PATH

    resp = env.api.get(f"{APPS_PATH}/{name}")
    if resp.status_code != 200:
        return {"name": name, "error": resp.status_code}
    status = resp.json().get("status") or {}
    return {
        "name": name,
        "sync": status.get("sync"),
        "health": status.get("health"),
        "conditions": [
            {k: c.get(k) for k in ("type", "message")} for c in status.get("conditions") or []
        ],
        "operation": {
            k: (status.get("operationState") or {}).get(k) for k in ("phase", "message", "revision")
        },
        "resources": [
            {k: r.get(k) for k in ("kind", "name", "status", "health", "message")}
            for r in (status.get("resources") or [])
        ][:6],
    }
