"""Answers read as they arrive (watches), whichever connection carries them.

A watch answers one JSON document per line for as long as it lasts. The native
HTTP/2 connection (``native.py``) and httpx's HTTP/1.1 one hand over its body in
chunks cut anywhere; both are read through ``Streamed``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import httpx


class Streamed(Protocol):
    @property
    def status_code(self) -> int: ...

    async def read(self) -> bytes:
        """The rest of the body (an error's status)."""
        ...

    def lines(self) -> AsyncIterator[bytes]:
        """Each non-empty line of the body."""
        ...


class HttpxStreamed:
    """``Streamed`` over an httpx response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_code = response.status_code

    async def read(self) -> bytes:
        return await self.response.aread()

    def lines(self) -> AsyncIterator[bytes]:
        return split_lines(self.response.aiter_bytes())  # decoded, as a gzip body needs


async def split_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The non-empty lines of a body arriving in chunks cut anywhere (some of a watch's
    events are larger than a chunk)."""
    pending = bytearray()
    async for chunk in chunks:
        end = chunk.rfind(b"\n")
        if end < 0:
            pending += chunk
            continue
        pending += chunk[:end]
        complete = bytes(pending)
        pending[:] = chunk[end + 1 :]
        for line in complete.split(b"\n"):
            if line.strip():
                yield line
    if pending.strip():
        yield bytes(pending)
