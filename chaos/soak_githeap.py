"""``python -m chaos.soak_githeap``: the Git cache's work in a loop, and what it does to RSS.

No cluster and no controller: a git daemon serving one repository of N apps
(the soak's layout), a commit moving 10 of them, then what the controller does
after a push webhook, in ``--threads`` worker threads: ls-remote and fetch
(``resolve``), the paths the commit changed, and the trees of the moved apps
plus ``--reads`` others. RSS is printed every 25 commits and after each pack
consolidation, and once more after a final ``malloc_trim(0)``: what that gives
back was free memory glibc kept, not a leak. ``--trim-every K`` trims every K
commits, as the controller's heap trim does once a minute.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.harness import GitServer

from chaos.load import app_files
from tether.adapters.git import packs, repo_cache
from tether.controller import heap_trim


def rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 1048576


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.soak_githeap", description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--reads", type=int, default=30, help="unmoved apps read per commit")
    parser.add_argument("--trim-every", type=int, default=0, help="commits; 0: only at the end")
    parser.add_argument("--fixed-thresholds", action="store_true", help="as the controller")
    args = parser.parse_args(argv)
    trim = heap_trim.malloc_trim()
    if args.fixed_thresholds:
        heap_trim.fix_thresholds()
    consolidate = repo_cache.consolidate_packs

    def measured(path: Path, keep: Iterable[str] = (), limit: int = packs.AUTO_PACK_LIMIT) -> bool:
        before, started = rss_mib(), time.monotonic()
        done = consolidate(path, keep, limit)
        if done:
            pack = sum(p.stat().st_size for p in (path / "objects" / "pack").glob("*.pack"))
            shallow = path / "shallow"
            roots = len(shallow.read_text().split()) if shallow.exists() else 0
            print(
                f"  packs consolidated in {time.monotonic() - started:.1f}s: "
                f"RSS {before:.1f} -> {rss_mib():.1f} MiB; pack {pack / 1024:.0f} KiB, "
                f"{roots} shallow roots",
                flush=True,
            )
        return done

    repo_cache.consolidate_packs = measured  # type: ignore[assignment]
    root = Path(tempfile.mkdtemp(prefix="soak-githeap-"))
    git = GitServer(root / "git")
    try:
        gens = [1] * args.apps
        files: dict[str, str | None] = {}
        for i in range(args.apps):
            files |= app_files(i, 1)
        git.commit(files, "every app at generation 1")
        cache = repo_cache.RepoCache(root / "cache")
        pool = ThreadPoolExecutor(args.threads)
        rng = random.Random(1)
        old = cache.resolve(git.url, "main")
        print(f"start: RSS {rss_mib():.1f} MiB", flush=True)
        for n in range(1, args.commits + 1):
            moved = rng.sample(range(args.apps), 10)
            change: dict[str, str | None] = {}
            for i in moved:
                gens[i] += 1
                change |= app_files(i, gens[i])
            git.commit(change, "10 apps move on")
            cache.forget_heads(git.url)
            new = pool.submit(cache.resolve, git.url, "main").result()
            pool.submit(cache.changed_paths, git.url, old, new).result()
            reads = moved + rng.sample(range(args.apps), args.reads)
            for f in [pool.submit(cache.read_tree, git.url, new, f"apps/chaos-{i}") for i in reads]:
                f.result()
            old = new
            if trim is not None and args.trim_every and n % args.trim_every == 0:
                trim(0)
            if n % 25 == 0:
                print(f"commit {n}: RSS {rss_mib():.1f} MiB", flush=True)
        print(f"end: RSS {rss_mib():.1f} MiB", flush=True)
        if trim is not None:
            trim(0)
            print(f"after malloc_trim(0): RSS {rss_mib():.1f} MiB", flush=True)
        pool.shutdown()
    finally:
        git.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
