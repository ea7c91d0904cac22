"""A watch's events are read line by line from chunks cut anywhere."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from tether.adapters.kube.streams import split_lines


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _lines(parts: list[bytes]) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [line async for line in split_lines(_chunks(parts))]

    return asyncio.run(collect())


def test_events_cut_at_every_byte_come_out_whole() -> None:
    events = [{"type": "ADDED", "object": {"n": i, "pad": "x" * i * 7}} for i in range(20)]
    body = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    for size in (1, 2, 3, 7, 64, 1000, len(body)):
        parts = [body[i : i + size] for i in range(0, len(body), size)]
        assert [json.loads(line) for line in _lines(parts)] == events


def test_empty_lines_are_skipped_and_a_last_line_without_newline_is_kept() -> None:
    assert _lines([b"\n\na\n", b"\n", b" \nb", b"c"]) == [b"a", b"bc"]


def test_an_event_larger_than_many_chunks() -> None:
    big = json.dumps({"type": "MODIFIED", "object": {"data": "y" * 300_000}}).encode()
    parts = [big[i : i + 16_384] for i in range(0, len(big), 16_384)] + [b"\n{}\n"]
    assert _lines(parts) == [big, b"{}"]
