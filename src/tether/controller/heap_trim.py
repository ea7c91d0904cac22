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


async def trim_forever(interval: float = INTERVAL, trim: Trim | None = None) -> None:
    """Trim the heap every ``interval`` seconds until cancelled (at once if there is no trim).

    The trim runs in a worker thread: it walks every arena and may fault pages
    back in, which the event loop should not wait for.
    """
    fn = trim if trim is not None else malloc_trim()
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
