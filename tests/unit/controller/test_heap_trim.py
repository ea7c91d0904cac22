"""The controller's heap trim: glibc's free pages go back to the system, once a minute."""

from __future__ import annotations

import asyncio
import ctypes
from pathlib import Path

import pytest

from tether.controller import heap_trim


def _rss_anon_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


async def test_the_heap_is_trimmed_every_interval_until_cancelled() -> None:
    calls: list[int] = []

    def trim(pad: int) -> int:
        calls.append(pad)
        return 1

    task = asyncio.create_task(heap_trim.trim_forever(0.01, trim))
    while len(calls) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert set(calls) == {0}  # pad 0: keep nothing spare at the top of the heap


async def test_without_malloc_trim_the_trimmer_ends_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(heap_trim, "malloc_trim", lambda: None)
    await asyncio.wait_for(heap_trim.trim_forever(0.01), timeout=5)


def test_a_trim_gives_back_free_pages_pinned_by_a_few_live_chunks() -> None:
    """What the soak saw: memory freed in the middle of the heap stays resident until trimmed."""
    trim = heap_trim.malloc_trim()
    if trim is None:
        pytest.skip("the C library has no malloc_trim")
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    chunks = [libc.malloc(1024) for _ in range(64 * 1024)]  # 64 MiB in small chunks
    for i, chunk in enumerate(chunks):
        ctypes.memset(chunk, 1, 1024)  # resident, not just reserved
        if i % 32:
            libc.free(chunk)  # one live chunk in 32 pins the pages around it
    try:
        before = _rss_anon_mib()
        trim(0)
        released = before - _rss_anon_mib()
    finally:
        for chunk in chunks[::32]:
            libc.free(chunk)
    assert released > 32, f"only {released:.1f} MiB given back"


def test_glibc_takes_the_fixed_thresholds() -> None:
    if heap_trim.malloc_trim() is None:
        pytest.skip("the C library has no malloc_trim")
    assert heap_trim.fix_thresholds()
