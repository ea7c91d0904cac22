"""Which controller replica reconciles which Application: a consistent-hashing ring.

Several replicas split the Applications between them. Each replica must reach
the same answer from the same inputs without talking to the others, and a
replica joining or leaving must move as few apps as possible (a moved app
pauses while its new owner waits for the old one to let go). So the owner of
an app depends only on its name, its ``tether.dev/shard`` label and the set
of live members, never on which other apps exist:

1. ``tether.dev/shard: <member>`` names a live member: that member.
2. ``tether.dev/shard: <n>`` (a decimal number) with ``0 <= n < members``:
   the n-th live member in sorted order of identity (Argo CD's shard
   numbers; the numbering shifts when a member joins or leaves).
3. Anything else (no label, a member that is not live, a number out of
   range): the ring. Every member has ``VIRTUAL_NODES`` points on a 64-bit
   circle; an app belongs to the member of the first point at or after the
   hash of its name. So no app is ever left without an owner.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from collections.abc import Iterable, Mapping

SHARD_LABEL = "tether.dev/shard"
VIRTUAL_NODES = 1000


@functools.lru_cache(maxsize=1 << 16)
def point(key: str) -> int:
    """A stable 64-bit position on the circle (the same in every process and version)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


class Ring:
    """The members' virtual nodes on the circle; ``owner`` is a binary search."""

    def __init__(self, members: Iterable[str], virtual_nodes: int = VIRTUAL_NODES) -> None:
        self.members: tuple[str, ...] = tuple(sorted(set(members)))
        nodes = sorted(
            (point(f"{member}#{i}"), member)
            for member in self.members
            for i in range(virtual_nodes)
        )
        self._points = [p for p, _ in nodes]
        self._owners = [m for _, m in nodes]

    def __len__(self) -> int:
        return len(self.members)

    def owner(self, name: str) -> str | None:
        """The member on the ring for ``name``; None when there are no members."""
        if not self._points:
            return None
        i = bisect.bisect_left(self._points, point(name))
        return self._owners[i % len(self._owners)]

    def assign(self, name: str, shard: str | None = None) -> str | None:
        """The owner of app ``name`` whose ``tether.dev/shard`` label is ``shard`` (rules above)."""
        if shard:
            if shard in self.members:
                return shard
            if shard.isdecimal() and int(shard) < len(self.members):
                return self.members[int(shard)]
        return self.owner(name)


def shard_of(labels: Mapping[str, str] | None) -> str | None:
    """The app's ``tether.dev/shard`` label, stripped; None when absent or empty."""
    value = str((labels or {}).get(SHARD_LABEL) or "").strip()
    return value or None


def assignment(apps: Mapping[str, str | None], members: Iterable[str]) -> dict[str, str | None]:
    """Owner per app, for apps given as ``{name: shard label or None}``."""
    ring = Ring(members)
    return {name: ring.assign(name, shard) for name, shard in apps.items()}
