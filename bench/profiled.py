"""Run ``tether <args>`` under cProfile, every thread included, and write one merged profile.

cProfile on Python 3.11 sees only the thread that enabled it, and Tether does
its Git and render work in ``asyncio.to_thread`` workers, so each new thread
gets its own profiler (through ``threading.setprofile``) and all of them are
merged into ``OUT`` when the controller exits (SIGTERM stops it cleanly).

    python bench/profiled.py OUT controller --kubeconfig K --poll 10
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _start_thread_profiler(*_args: object) -> None:
    prof = cProfile.Profile()
    with _lock:
        _profiles.append(prof)
    prof.enable()


def main() -> None:
    out = sys.argv[1]
    sys.argv = ["tether", *sys.argv[2:]]
    from tether.cli.main import cli

    threading.setprofile(_start_thread_profiler)
    main_prof = cProfile.Profile()
    _profiles.append(main_prof)
    main_prof.enable()
    try:
        cli(standalone_mode=False)
    finally:
        main_prof.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        stats: pstats.Stats | None = None
        with _lock:
            profiles = list(_profiles)
        for prof in profiles:
            try:
                prof.create_stats()
                if stats is None:
                    stats = pstats.Stats(prof)
                else:
                    stats.add(prof)
            except Exception as exc:  # a thread's profiler in a bad state: skip it
                print(f"profile of one thread skipped: {exc}", file=sys.stderr)
        if stats is not None:
            stats.dump_stats(out)


if __name__ == "__main__":
    main()
