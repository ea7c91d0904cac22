"""Tether beside the peers measured in the same ``python -m bench`` run: rows and ratios.

Absolute times move by about 1.6x between machines of the same kind, and
this machine is shared, so what we publish are ratios between runs that
shared the machine at the same time (the same ``run_id``); a pair from
different runs is shown but not turned into a ratio.
"""

from __future__ import annotations

from typing import Any

NONE = "\u2013"  # an en dash, as in the rest of docs/performance.md
PEER_NAMES = {"flux": "Flux", "argocd": "Argo CD"}

# fluxcd/flux-benchmark, Flux v2.6 (GitHub runner, 16 cores, kustomize-controller at 2 CPUs).
FLUX_PUBLISHED = {100: ("28s", 28, 32), 500: ("2m02s", 122, 122), 1000: ("4m16s", 256, 175)}


def phase(run: dict[str, Any], name: str) -> dict[str, Any]:
    for p in run.get("phases") or []:
        if p.get("phase") == name:
            return dict(p)
    return {}


def seconds(run: dict[str, Any], name: str) -> float | None:
    """Push to all done, or None when that phase did not complete."""
    p = phase(run, name)
    value = p.get("seconds_to_all")
    return float(value) if p.get("complete") and value is not None else None


def times_faster(tether: float | None, peer: float | None) -> float | None:
    """How many times faster Tether was (peer time / Tether time)."""
    if tether is None or peer is None or tether <= 0:
        return None
    return round(peer / tether, 1)


def share(tether: float | None, peer: float | None) -> float | None:
    """Tether's figure as a fraction of the peer's (memory, CPU): 0.33 is a third."""
    if tether is None or peer is None or peer <= 0:
        return None
    return round(tether / peer, 2)


def cpu(run: dict[str, Any], key: str) -> float | None:
    """A CPU counter summed over the create and update phases."""
    values = [phase(run, name).get(key) for name in ("create", "update")]
    if any(v is None for v in values):
        return None
    return round(sum(float(v) for v in values if v is not None), 1)


def tether_rss(run: dict[str, Any]) -> float | None:
    value = (run.get("tether") or {}).get("peak_rss_mib")
    return float(value) if value is not None else None


def peer_rss(run: dict[str, Any], tool: str) -> float | None:
    value = (run.get(tool) or {}).get("peak_rss_mib")
    return float(value) if value is not None else None


def load(run: dict[str, Any]) -> str:
    """The 1-minute load average when each phase started, e.g. ``3.1 / 4.0``."""
    values = [
        (phase(run, name).get("load_average_before") or [None])[0] for name in ("create", "update")
    ]
    if all(v is None for v in values):
        return NONE
    return " / ".join("?" if v is None else f"{v:.1f}" for v in values)


def _t(v: float | None, unit: str = "s") -> str:
    if v is None:
        return NONE
    return f"{v:.1f}{unit}" if v >= 10 else f"{v:.2f}{unit}"


def _x(v: float | None) -> str:
    return NONE if v is None else f"{v:.1f}x"


def _f(v: float | None) -> str:
    return NONE if v is None else f"{v:.2f}"


def _phase_text(run: dict[str, Any], name: str, n: int) -> str:
    p = phase(run, name)
    if not p:
        return NONE
    if p.get("complete"):
        return _t(p.get("seconds_to_all"))
    wall, timeout = p.get("wall_seconds"), p.get("timeout_seconds")
    if wall is not None and timeout is not None and wall < timeout - 1:
        return f"stalled: {p.get('apps_done')}/{n} after {wall:.0f}s"
    return f"incomplete: {p.get('apps_done')}/{n} in {timeout}s"


def side_by_side(tether_runs: dict[str, Any], peer_runs: dict[str, Any], tool: str) -> list[str]:
    """The markdown table: each size measured for both, with the ratios of same-run pairs."""
    label = PEER_NAMES.get(tool, tool)
    sizes = sorted(int(n) for n in peer_runs if n in tether_runs)
    if not sizes:
        return []
    out = [
        f"| N | Tether create | {label} create | Tether faster | Tether update "
        f"| {label} update | Tether faster | Tether peak RSS | {label} peak RSS "
        f"| memory, Tether/{label} | CPU Tether / {label} | control plane CPU "
        f"(Tether run / {label} run) | load at the pushes: Tether; {label} |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n in sizes:
        t, p = tether_runs[str(n)], peer_runs[str(n)]
        if "error" in p or "error" in t:
            out.append(
                f"| {n} | {t.get('error', '')} | {label}: {p.get('error', 'ok')} "
                "| | | | | | | | | | |"
            )
            continue
        same = bool(t.get("run_id")) and t.get("run_id") == p.get("run_id")
        tc, pc = seconds(t, "create"), seconds(p, "create")
        tu, pu = seconds(t, "update"), seconds(p, "update")
        tm, pm = tether_rss(t), peer_rss(p, tool)
        tmpfs = (p.get(tool) or {}).get("tmpfs_peak_mib")
        mem = f"{_t(pm, ' MiB')}" + (f" + {tmpfs:.0f} MiB tmpfs" if tmpfs else "")
        tcpu, pcpu = cpu(t, "tether_cpu_seconds"), cpu(p, "peer_cpu_seconds")
        tcp, pcp = cpu(t, "control_plane_cpu_seconds"), cpu(p, "control_plane_cpu_seconds")
        fc, fu, m = times_faster(tc, pc), times_faster(tu, pu), share(tm, pm)
        if not same:
            fc = fu = m = None
        note = "" if same else " (different runs)"
        out.append(
            f"| {n}{note} | {_phase_text(t, 'create', n)} | {_phase_text(p, 'create', n)} "
            f"| **{_x(fc)}** | {_phase_text(t, 'update', n)} "
            f"| {_phase_text(p, 'update', n)} | **{_x(fu)}** "
            f"| {_t(tm, ' MiB')} | {mem} | {_f(m)} "
            f"| {_t(tcpu)} / {_t(pcpu)} | {_t(tcp)} / {_t(pcp)} "
            f"| {load(t)}; {load(p)} |"
        )
    return out


def goal(tether_runs: dict[str, Any], peer_runs: dict[str, Any], n: int = 1000) -> str:
    """Issue 17's goal at 1,000 apps: at least 5x faster (create and update), at most 1/3 memory."""
    t, p = tether_runs.get(str(n)), peer_runs.get(str(n))
    if not t or not p or "error" in t or "error" in p or t.get("run_id") != p.get("run_id"):
        return (
            f"**Goal at {n:,} apps** (at least 5x Flux's speed for create and update, at most a "
            "third of its memory): not measured in one run yet; `make bench BENCH_ARGS=--full` "
            "measures it."
        )
    fc = times_faster(seconds(t, "create"), seconds(p, "create"))
    fu = times_faster(seconds(t, "update"), seconds(p, "update"))
    m = share(tether_rss(t), peer_rss(p, "flux"))

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    return (
        f"**Goal at {n:,} apps** (at least 5x Flux's speed, at most a third of its memory): "
        f"create {_x(fc)} ({verdict(fc is not None and fc >= 5)}), "
        f"update {_x(fu)} ({verdict(fu is not None and fu >= 5)}), "
        f"memory {_f(m)} ({verdict(m is not None and m <= 1 / 3)})."
    )


def by_process(peer_runs: dict[str, Any], tool: str) -> str:
    """Each process's VmHWM per size, e.g. ``100 apps: source-controller 93 MiB, ...``."""
    parts = []
    for n in sorted(peer_runs, key=int):
        procs = (peer_runs[n].get(tool) or {}).get("controllers") or {}
        if procs:
            each = ", ".join(f"{name} {v['peak_rss_mib']:.0f} MiB" for name, v in procs.items())
            parts.append(f"{n} apps: {each}")
    return "; ".join(parts)
