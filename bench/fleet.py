"""One controller, or R sharded replicas measured as one: what the mttp scenario drives.

With ``replicas`` above 1 every replica is ``tether controller --shards auto
--leader-elect`` with a Pod name of its own (``POD_NAME``) and its own cache
directory, as chaos/world.py starts them outside a cluster. The push webhook
goes to the first replica only, as a Service in front of the Pods would send
it; that replica refreshes its own apps and hands the others on through the
refresh annotation. Requests are summed over the replicas' own counters; RSS
and CPU are kept per replica and summed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.harness import ControllerProc, Env, log, mib

SHARD_MEMBERS = "tether_shard_members"


class Fleet:
    """The controller processes of one run; ``first`` takes the webhook."""

    def __init__(
        self,
        env: Env,
        replicas: int,
        *,
        poll: float,
        profile: Path | None = None,
        memory: Path | None = None,
    ) -> None:
        self.replicas = replicas
        if replicas == 1:
            self.procs = [env.controller(poll=poll, profile=profile, memory=memory)]
        else:
            self.procs = [
                env.controller(poll=poll, identity=f"tether-controller-{i}")
                for i in range(replicas)
            ]

    @property
    def first(self) -> ControllerProc:
        return self.procs[0]

    @property
    def webhook(self) -> bool:
        return self.first.webhook

    def wait_members(self, timeout: float = 60.0) -> bool:
        """Until every replica sees all R members (so apps are split before they exist)."""
        if self.replicas == 1:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = [(p.metrics() or {}).get(SHARD_MEMBERS, 0.0) for p in self.procs]
            if all(s == self.replicas for s in seen):
                return True
            time.sleep(0.5)
        log(f"replicas still disagree on membership after {timeout:.0f}s")
        return False

    def sample(self) -> None:
        for p in self.procs:
            p.meter.sample()

    def idle_rss(self) -> list[int]:
        self.sample()
        return [p.meter.last_rss for p in self.procs]

    def snapshot_memory(self) -> None:
        for p in self.procs:
            p.snapshot_memory()

    def metrics(self) -> dict[str, float]:
        """Every replica's /metrics, counters summed by series."""
        out: dict[str, float] = {}
        for p in self.procs:
            for k, v in (p.metrics() or {}).items():
                out[k] = out.get(k, 0.0) + v
        return out

    def shard_apps(self) -> list[float]:
        """Apps each replica reconciles (its tether_shard_apps gauge)."""
        out = []
        for p in self.procs:
            m = p.metrics() or {}
            out.append(sum(v for k, v in m.items() if k.startswith("tether_shard_apps")))
        return out

    def fences(self) -> list[int]:
        """Times each replica stopped every reconcile for not renewing its Lease in time."""
        return [
            p.log_path.read_text(errors="replace").count("could not renew its Lease")
            for p in self.procs
        ]

    def start_window(self) -> list[float]:
        cpu = []
        for p in self.procs:
            p.meter.start_window()
            cpu.append(p.meter.cpu())
        return cpu

    def close_window(self, cpu_before: list[float]) -> dict[str, Any]:
        cpu = [round(p.meter.cpu() - c, 2) for p, c in zip(self.procs, cpu_before, strict=True)]
        peaks = [mib(p.meter.window_peak) for p in self.procs]
        ends = [mib(p.meter.last_rss) for p in self.procs]
        return {
            "tether_cpu_seconds": round(sum(cpu), 2),
            "tether_peak_rss_mib": max(peaks),
            "tether_rss_end_mib": round(sum(ends), 1),
            "tether_peak_rss_mib_sum": round(sum(peaks), 1),
            "tether_cpu_seconds_by_replica": cpu,
            "tether_peak_rss_mib_by_replica": peaks,
        }

    def errors(self) -> list[str]:
        return [e for p in self.procs for e in p.errors()][:20]

    def stop(self) -> dict[str, Any]:
        """Stop every replica; the first one's totals, plus per replica and summed with R > 1."""
        totals = [p.stop() for p in self.procs]
        if self.replicas == 1:
            return totals[0]
        return {
            "cpu_seconds": round(sum(t["cpu_seconds"] for t in totals), 2),
            "peak_rss_mib": max(t["peak_rss_mib"] for t in totals),
            "peak_rss_mib_sum": round(sum(t["peak_rss_mib"] for t in totals), 1),
            "wall_seconds": max(t["wall_seconds"] for t in totals),
            "by_replica": totals,
        }
