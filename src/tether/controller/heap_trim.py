"""Give the C heap's free pages back to the operating system once a minute.

The controller's native work (libgit2 for every ls-remote, fetch, tree read and
pack consolidation; the TLS and HTTP/2 stacks) allocates and frees many short-
lived buffers from several threads. glibc keeps what is freed inside its arenas
and returns memory to the system only from the top of an arena, so a few live
chunks scattered over a heap pin it: the soak saw the controller's RSS rise
~88 MiB/h under a steady stream of commits while its live objects stayed flat,
and ``malloc_trim(0)``, which also releases the free pages in the middle of every
arena, gave that memory back at once. Trimming once a minute bounds RSS to what
is live plus a minute's churn, for a few milliseconds of CPU.

``malloc_trim`` does not shrink a worker thread's arena from its top, and glibc
raises its own trim and mmap thresholds (up to 32 MiB) each time a large block
is freed, after which large buffers come from the arenas and a worker thread's
arena keeps its high-water mark for good: under the soak the Git threads' arenas
grew from 6 to 23 MiB while what they held stayed flat. So the thresholds are
fixed at glibc's own starting values (``fix_thresholds``): blocks of 128 KiB
and more are mapped and unmapped on their own, and an arena's free top past
128 KiB goes back on the next free.

Without glibc (musl, macOS) there is no ``malloc_trim`` and nothing is done.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

INTERVAL = 60.0  # seconds between trims
THRESHOLD = 128 * 1024  # glibc's default M_TRIM_THRESHOLD and M_MMAP_THRESHOLD, kept fixed
_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3

Trim = Callable[[int], int]


def malloc_trim() -> Trim | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    trim: Trim = fn
    return trim


def fix_thresholds(threshold: int = THRESHOLD) -> bool:
    """Fix glibc's trim and mmap thresholds at ``threshold`` bytes; False without glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_TRIM_THRESHOLD, threshold) and mallopt(_M_MMAP_THRESHOLD, threshold))


async def trim_forever(interval: float = INTERVAL, trim: Trim | None = None) -> None:
    """Trim the heap every ``interval`` seconds until cancelled (at once if there is no trim).

    The trim runs in a worker thread: it walks every arena and may fault pages
    back in, which the event loop should not wait for.
    """
    fn = trim
    if fn is None:
        fn = malloc_trim()
        if fn is not None:
            fix_thresholds()
    if fn is None:
        log.debug("no malloc_trim in this C library: the heap is not trimmed")
        return
    while True:
        await asyncio.sleep(interval)
        started = time.monotonic()
        released = await asyncio.to_thread(fn, 0)
        log.debug(
            "heap trimmed in %.1f ms (memory released: %s)",
            (time.monotonic() - started) * 1000,
            "yes" if released else "no",
        )
