"""``python -m bench [--full] [--peers] [--scenario NAME ...] [--profile]``.

Quick default (about 6 minutes on 2 cores): mttp at 100 and 500 apps,
latency and drift over 20 samples, idle with 100 apps for 60 s, selective
re-render with 100 apps. ``--full``: mttp at 100, 500, 1000 and 2000, idle
with 1000 apps for 5 minutes, selective with 1000 apps, and the peers.
``--peers`` (implied by ``--full``): right after Tether's mttp at each size up
to 1,000, the same scenario for Flux (source- and kustomize-controller,
built into ``.cache/peers`` on first use, several minutes cold), so that the
report's ratios compare runs on the same machine at the same time. Every scenario starts
its own control plane and Git server. Results go to
``bench/results/<scenario>-<timestamp>.json``; ``bench/results/latest.json``
keeps the newest result of each scenario, and docs/performance.md is
regenerated from it. ``--profile`` runs the mttp controllers under cProfile
(every thread) and stores the top functions with the result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    argocdbuild,
    argocdmttp,
    drift,
    fluxbuild,
    fluxmttp,
    idle,
    latency,
    memory,
    mttp,
    report,
    selective,
)
from bench.harness import log
from bench.profiles import summarise

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("mttp", "latency", "drift", "idle", "selective")
PEER_MAX_N = 1000  # Flux's work grows with N squared: 2,000 apps would take most of an hour


def _peer_run(name: str) -> tuple[str, str] | None:
    """``flux-mttp-100`` -> (``flux``, ``100``); None for Tether's own scenarios."""
    tool, _, rest = name.partition("-mttp-")
    return (tool, rest) if rest and tool in ("flux", "argocd") else None


def _save(name: str, result: dict[str, Any], stamp: str, mode: str, run_id: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "scenario": name,
        "mode": mode,
        "run_at": stamp,
        "run_id": run_id,
        "environment": report.environment(),
        "result": result,
    }
    (RESULTS / f"{name}-{stamp}.json").write_text(json.dumps(record, indent=2) + "\n")
    latest_path = RESULTS / "latest.json"
    latest: dict[str, Any] = {}
    if latest_path.exists():
        latest = json.loads(latest_path.read_text())
    latest["environment"] = report.environment()
    scenarios = latest.setdefault("scenarios", {})
    peer = _peer_run(name)
    if peer:
        tool, n = peer
        peers = scenarios.setdefault("peers", {}).setdefault(tool, {})
        peers[n] = {"mode": mode, "run_at": stamp, "run_id": run_id, **result}
    elif name.startswith("mttp-") and "x" in name:  # mttp-5000x3: sharded replicas
        runs = scenarios.setdefault("mttp_replicas", {})
        runs[name.removeprefix("mttp-")] = {
            "mode": mode,
            "run_at": stamp,
            "run_id": run_id,
            **result,
        }
    elif name.startswith("mttp-"):
        runs = scenarios.setdefault("mttp", {})
        runs[name.removeprefix("mttp-")] = {
            "mode": mode,
            "run_at": stamp,
            "run_id": run_id,
            **result,
        }
        if result.get("profile_top"):
            latest["profile"] = {
                "n": result.get("n"),
                "run_at": stamp,
                "phases": result.get("phases"),
                **result["profile_top"],
            }
    else:
        scenarios[name] = {"mode": mode, "run_at": stamp, "run_id": run_id, **result}
    latest_path.write_text(json.dumps(latest, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--full", action="store_true", help="the long run (mttp up to 2000 apps)")
    parser.add_argument(
        "--scenario", action="append", choices=SCENARIOS, help="run only this scenario (repeatable)"
    )
    parser.add_argument(
        "--mttp-n",
        type=int,
        action="append",
        help="mttp sizes to run instead of the defaults (repeatable)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="mttp with R sharded controller replicas (--shards auto), measured together",
    )
    parser.add_argument(
        "--mttp-phases",
        default="create,update",
        help="the mttp pushes to measure (comma-separated; 'create' alone for a short run)",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help=f"after Tether's mttp at each size up to {PEER_MAX_N}, run Flux in the same scenario",
    )
    parser.add_argument(
        "--argocd",
        action="store_true",
        help="with --peers, Argo CD too (application controller, repo server and redis)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the controller in mttp with cProfile (all threads)",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="run the mttp controllers under tracemalloc and store where the memory goes",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="only regenerate docs/performance.md from latest.json",
    )
    args = parser.parse_args(argv)
    if args.report_only:
        report.write(RESULTS / "latest.json")
        return 0
    mode = "full" if args.full else ("custom" if args.mttp_n else "quick")
    chosen = args.scenario or list(SCENARIOS)
    sizes = args.mttp_n or ([100, 500, 1000, 2000] if args.full else [100, 500])
    jobs: list[tuple[str, Callable[[], dict[str, Any]]]] = []
    peers = {"flux", "argocd"} if args.argocd else {"flux"}
    if "mttp" in chosen:
        for n in sizes:

            def one(n: int = n) -> dict[str, Any]:
                prof = None
                if args.profile:
                    prof = RESULTS / f"profile-mttp-{n}-{time.strftime('%Y%m%d-%H%M%S')}.prof"
                snaps = None
                if args.memory:
                    snaps = RESULTS / f"memory-mttp-{n}-{time.strftime('%Y%m%d-%H%M%S')}"
                result = mttp.run(
                    n,
                    replicas=args.replicas,
                    phases=tuple(args.mttp_phases.split(",")),
                    profile=prof,
                    memory=snaps,
                )
                if prof is not None:
                    result["profile_top"] = summarise(prof)
                if snaps is not None:
                    result["memory_top"] = memory.summarise(snaps, ["idle", "create", "update"])
                return result

            jobs.append((f"mttp-{n}x{args.replicas}" if args.replicas > 1 else f"mttp-{n}", one))
            if (args.peers or args.full) and n <= PEER_MAX_N and args.replicas == 1:

                def flux(n: int = n) -> dict[str, Any]:
                    return fluxmttp.run(n, fluxbuild.build())

                def argocd(n: int = n) -> dict[str, Any]:
                    return argocdmttp.run(n, argocdbuild.build())

                jobs.append((f"flux-mttp-{n}", flux))
                if "argocd" in peers:
                    jobs.append((f"argocd-mttp-{n}", argocd))
    if "latency" in chosen:
        jobs.append(("latency", lambda: latency.run(20)))
    if "drift" in chosen:
        jobs.append(("drift", lambda: drift.run(20)))
    if "idle" in chosen:
        jobs.append(
            (
                "idle",
                lambda: idle.run(1000, 300.0, 60.0) if args.full else idle.run(100, 60.0, 10.0),
            )
        )
    if "selective" in chosen:
        jobs.append(("selective", lambda: selective.run(1000 if args.full else 100)))
    failed = 0
    started = time.monotonic()
    run_id = time.strftime("%Y%m%d-%H%M%S")
    for name, job in jobs:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            result = job()
        except Exception as exc:
            failed += 1
            log(f"{name} failed: {exc!r}")
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"}
        _save(name, result, stamp, mode, run_id)
    report.write(RESULTS / "latest.json")
    log(f"done in {time.monotonic() - started:.0f}s; docs/performance.md regenerated")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
