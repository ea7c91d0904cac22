"""``python -m chaos [--apps N] [--kills K] [--replicas R] [--smoke | --plan F,..]``: faults.

Default (``make chaos``): 150 apps, 50 controller kills at random points, 5 kills
aimed at a rollback in progress (``kill-rollback``) and 5 at a sync waiting for its
PreSync hook (``kill-hook``; every tenth app then has a hook Job), and two of
every other fault, in a random order. ``--smoke`` is the short plan the test suite runs.
``--replicas R`` runs R ``--shards auto`` replicas and adds ``kills`` kills of one
replica (``replica-kill``) to the full plan.
Results go to ``chaos/results/chaos-<timestamp>.json`` (and ``latest.json``),
and the measured table in docs/reliability.md is regenerated from them.
Exit code 1 when any invariant was violated or any sync was lost.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from chaos import report
from chaos.run import FAULTS, Config, full_plan, run, smoke_plan

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--apps", type=int, default=150)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="controller replicas (--shards auto); more than 1 adds replica-kill to the plan",
    )
    parser.add_argument("--keep-log", type=Path, help="copy the controllers' log here")
    parser.add_argument("--smoke", action="store_true", help="the short plan of the test suite")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/reliability.md")
    parser.add_argument(
        "--plan",
        help="these faults in this order, comma-separated (e.g. disk-full,kill,kill-hook); "
        f"known: {', '.join(FAULTS)}",
    )
    args = parser.parse_args(argv)
    if args.plan:
        plan = [f.strip() for f in args.plan.split(",") if f.strip()]
        unknown = sorted(set(plan) - set(FAULTS))
        if unknown:
            parser.error(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
    elif args.smoke:
        plan = smoke_plan()
    else:
        plan = full_plan(args.kills, random.Random(args.seed), args.replicas)
    result = run(
        Config(
            apps=args.apps,
            plan=plan,
            seed=args.seed,
            replicas=args.replicas,
            keep_log=args.keep_log,
        )
    )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    result["run_at"] = stamp
    result["mode"] = "plan" if args.plan else "smoke" if args.smoke else "full"
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    (RESULTS / f"chaos-{stamp}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    if not args.no_docs:
        report.update_docs(result)
    print(report.table(result))
    return 1 if result["violations"] or result["syncs_lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
