"""``python -m chaos.soak [--apps N] [--minutes M]``: a long steady load, looking for leaks.

N apps (default 1,000) with auto-sync, self-heal and prune in one repository;
the load driver of the chaos suite pushes a commit every few seconds (each
followed by the push webhook, as a Git host sends it) and drifts a managed
object every few seconds (edits a ConfigMap, scales a Deployment, deletes a
ConfigMap), for M minutes (default 30). No faults: what is measured is what
a quiet, busy week would do to the controller.

Every ~10 s the controller's RSS, open file descriptors, threads and CPU time
are read from ``/proc`` and its asyncio task count from its ``/metrics``. The
result gives, after a warm-up, the least-squares slope per hour of each with
its noise band (``chaos.trend``), p50/p99/max push->synced and drift->reverted,
and the cores the controller used on average. Written to
``chaos/results/soak-<timestamp>.json`` (and ``soak-latest.json``, and a
markdown twin) and to the Soak section of docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import APPS_PATH, ControllerProc, Env, Watcher, environment, log

from chaos import soak_report, trend
from chaos.load import LoadDriver, app_name
from chaos.soak_meters import ProcSampler, Reverts, SyncLatency

RESULTS = Path(__file__).resolve().parent / "results"
SERIES = ("rss_mib", "fds", "threads", "tasks")
POLL_SECONDS = 60.0  # the production default: with a webhook, polling is only the fallback


class SoakDriver(LoadDriver):
    """The chaos load driver, telling the meters what it moved and when."""

    def __init__(self, env: Env, n: int, seed: int) -> None:
        super().__init__(env, n, seed)
        self.latency = SyncLatency(self.ledger, _index)
        self.reverts = Reverts()
        self.ctl: ControllerProc | None = None
        self.webhook_failures = 0

    def commit(self, apps: list[int] | None = None, message: str = "") -> str:
        before = tuple(self.ledger.gens)
        sha = super().commit(apps, message)
        with self.ledger.lock:
            at, after = self.ledger.moves[-1]
        moved = {i: g for i, (b, g) in enumerate(zip(before, after, strict=True)) if g != b}
        self.latency.pushed(at, moved)
        if self.ctl is not None:
            try:
                self.ctl.push_webhook(self.git.url)
            except Exception:  # the poll is the fallback; counted, not fatal
                self.webhook_failures += 1
        return sha

    def drift(self) -> None:
        i = self.rng.randrange(self.n)
        ns, how = app_name(i), self.rng.choice(("edit", "scale", "delete"))
        merge = {"Content-Type": "application/merge-patch+json"}
        with self._busy:
            at = time.monotonic()
            if how == "edit":
                kind = "ConfigMap"
                resp = self.api.patch(
                    f"/api/v1/namespaces/{ns}/configmaps/cfg",
                    content='{"data": {"gen": "drifted"}}',
                    headers=merge,
                )
            elif how == "scale":
                kind = "Deployment"
                resp = self.api.patch(
                    f"/apis/apps/v1/namespaces/{ns}/deployments/{ns}",
                    content='{"spec": {"replicas": 2}}',
                    headers=merge,
                )
            else:
                kind = "ConfigMap"
                resp = self.api.delete(f"/api/v1/namespaces/{ns}/configmaps/cfg")
            self.ledger.drifts += 1
        if resp.status_code < 300:
            rv = int((resp.json().get("metadata") or {}).get("resourceVersion") or 0)
            self.reverts.drifted(kind, ns, how, rv, at)


def _index(name: str) -> int | None:
    prefix = app_name(0)[:-1]
    if not name.startswith(prefix):
        return None
    try:
        return int(name[len(prefix) :])
    except ValueError:
        return None


def run(
    apps: int,
    minutes: float,
    *,
    commit_every: float = 5.0,
    drift_every: float = 3.0,
    apps_per_commit: int = 10,
    warmup_minutes: float | None = None,
    sample_every: float = 10.0,
    seed: int = 1,
) -> dict[str, Any]:
    duration = minutes * 60
    warmup = duration / 6 if warmup_minutes is None else warmup_minutes * 60
    with environment("soak") as env:
        driver: SoakDriver | None = None
        watchers: list[Watcher] = []
        sampler: ProcSampler | None = None
        try:
            driver = SoakDriver(env, apps, seed)
            latency, reverts = driver.latency, driver.reverts
            driver.commit_every, driver.drift_every = commit_every, drift_every
            driver.apps_per_commit = max(1, min(apps, apps_per_commit))
            sha = driver.seed()
            ctl = env.controller(poll=POLL_SECONDS)
            driver.ctl = ctl if ctl.webhook else None
            tracker = env.tracker()
            tracker.expect(sha)
            t0 = time.monotonic()
            names = driver.create_apps()
            log(f"soak: {apps} apps created in {time.monotonic() - t0:.1f}s")
            if not tracker.wait(names, timeout=3600, stall=600):
                raise RuntimeError(f"apps never converged at start: {tracker.summary()}")
            first_sync = time.monotonic() - t0
            log(f"soak: {apps} apps Synced and Healthy in {first_sync:.1f}s")
            watchers = [
                Watcher(env, APPS_PATH, latency.handle),
                Watcher(
                    env,
                    "/api/v1/configmaps",
                    lambda e, o: reverts.handle("ConfigMap", e, o),
                    {"fieldSelector": "metadata.name=cfg"},
                ),
                Watcher(
                    env,
                    "/apis/apps/v1/deployments",
                    lambda e, o: reverts.handle("Deployment", e, o),
                ),
            ]
            sampler = ProcSampler(ctl.proc.pid, ctl.metrics, every=sample_every)
            cp_cpu = env.control_plane_cpu()
            driver.start()
            driver.running.set()
            end = time.monotonic() + duration
            while (left := end - time.monotonic()) > 0:
                time.sleep(min(60.0, left))
                if ctl.proc.poll() is not None:
                    raise RuntimeError("the controller exited:\n" + ctl.log_tail())
                last = sampler.samples[-1] if sampler.samples else {}
                log(
                    f"soak: {(duration - max(left - 60, 0)) / 60:.0f}/{minutes:g} min, "
                    f"{driver.ledger.commits} commits, {driver.ledger.drifts} drifts, "
                    f"rss {last.get('rss_mib', 0):.0f} MiB, fds {last.get('fds')}, "
                    f"threads {last.get('threads')}, tasks {last.get('tasks')}, "
                    f"queue {last.get('queue')}, load {last.get('load1')}, "
                    f"synced {len(latency.done)} (open {latency.missed()}), "
                    f"reverted {sum(len(v) for v in reverts.done.values())}"
                )
            driver.running.clear()
            with driver._busy:  # the action in progress, if any, is done
                pass
            drain = time.monotonic() + 180
            while (latency.missed() or reverts.missed()) and time.monotonic() < drain:
                time.sleep(1)
            sampler.close()
            cp = env.control_plane_cpu()
            result = summarize(
                sampler.samples, latency, reverts, warmup_seconds=warmup, measured_seconds=duration
            )
            result.update(
                apps=apps,
                minutes=minutes,
                seed=seed,
                commit_every_seconds=commit_every,
                drift_every_seconds=drift_every,
                apps_per_commit=driver.apps_per_commit,
                commits=driver.ledger.commits,
                drifts=driver.ledger.drifts,
                failed_load_actions=driver.failed_actions,
                webhook=driver.ctl is not None,
                webhook_failures=driver.webhook_failures,
                poll_seconds=POLL_SECONDS,
                first_sync_seconds=round(first_sync, 1),
                control_plane_cpu_seconds=round(sum(cp.values()) - sum(cp_cpu.values()), 1),
                states_at_end=tracker.summary(),
                controller_errors=ctl.errors(),
                controller=ctl.stop(),
                open_fds_first=sampler.fds_first,
                open_fds_last=sampler.fds_last,
                samples=sampler.samples,
            )
            return result
        finally:
            if sampler is not None:
                sampler.close()
            for w in watchers:
                w.close()
            if driver is not None:
                driver.close()


def summarize(
    samples: list[dict[str, float]],
    latency: SyncLatency,
    reverts: Reverts,
    *,
    warmup_seconds: float,
    measured_seconds: float,
) -> dict[str, Any]:
    """The figures of a run from its samples and latency meters (no cluster needed)."""
    steady = trend.after_warmup(samples, warmup_seconds)
    fits = trend.trends(steady, SERIES)
    loads = [s["load1"] for s in samples if s.get("load1") == s.get("load1")]
    all_reverts = [v for vs in reverts.done.values() for v in vs]
    return {
        "warmup_seconds": round(warmup_seconds, 1),
        "measured_seconds": round(measured_seconds, 1),
        "samples_after_warmup": len(steady),
        "slopes": {k: (f.as_dict() if f else None) for k, f in fits.items()},
        "flat": all(f is None or f.flat for f in fits.values()),
        "controller_cores_avg": _r(trend.cores_used(steady)),
        "controller_cores_avg_whole_run": _r(trend.cores_used(samples)),
        "load_average_1m": {
            "mean": _r(sum(loads) / len(loads)) if loads else None,
            "max": _r(max(loads)) if loads else None,
        },
        "push_to_synced": trend.latency(latency.done, latency.missed()),
        "drift_to_reverted": trend.latency(all_reverts, reverts.missed())
        | {"superseded": reverts.superseded},
        "drift_to_reverted_by_kind": {
            how: trend.latency(vs) for how, vs in sorted(reverts.done.items())
        },
    }


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.soak", description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--commit-every", type=float, default=5.0, help="seconds")
    parser.add_argument("--drift-every", type=float, default=3.0, help="seconds")
    parser.add_argument("--apps-per-commit", type=int, default=10)
    parser.add_argument("--warmup-minutes", type=float, default=None, help="default: a sixth")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/reliability.md")
    args = parser.parse_args(argv)
    result = run(
        args.apps,
        args.minutes,
        commit_every=args.commit_every,
        drift_every=args.drift_every,
        apps_per_commit=args.apps_per_commit,
        warmup_minutes=args.warmup_minutes,
        sample_every=args.sample_every,
        seed=args.seed,
    )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    result["run_at"] = stamp
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    markdown = soak_report.markdown(result) + "\n"
    for name in (f"soak-{stamp}", "soak-latest"):
        (RESULTS / f"{name}.json").write_text(text)
        (RESULTS / f"{name}.md").write_text(markdown)
    if not args.no_docs:
        soak_report.update_docs(result)
    print(markdown)
    return 0 if result["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
