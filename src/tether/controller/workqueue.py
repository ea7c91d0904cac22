"""The controller's work queue: each app at most once, urgent work first.

Two classes. ``URGENT``: a managed live object changed (drift to repair) or
the Application itself changed or asked for something (spec, sync, refresh
by a user). ``ROUTINE``: refreshes from a repository webhook or poll, requeue
timers, the initial fill. One push can queue every app of a repository; a
drifted object or a user's sync must not wait behind all of them.

Within a class the order is FIFO. Putting a queued app again with a higher
class moves it up (keeping nothing of its old place); with the same or a
lower class it stays where it is. So that a steady stream of urgent work
cannot starve the routine class, every ``routine_every``-th take comes from
the routine class when both hold work.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from enum import IntEnum


class Priority(IntEnum):
    ROUTINE = 0
    URGENT = 1


class WorkQueue:
    def __init__(self, *, routine_every: int = 4) -> None:
        if routine_every < 2:
            raise ValueError("routine_every must be at least 2")
        self.routine_every = routine_every
        self._classes: dict[Priority, OrderedDict[str, None]] = {
            Priority.URGENT: OrderedDict(),
            Priority.ROUTINE: OrderedDict(),
        }
        self._urgent_streak = 0
        self._waiters: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return sum(len(names) for names in self._classes.values())

    def __contains__(self, name: object) -> bool:
        return any(name in names for names in self._classes.values())

    def priority_of(self, name: str) -> Priority | None:
        for priority, names in self._classes.items():
            if name in names:
                return priority
        return None

    def put(self, name: str, priority: Priority = Priority.URGENT) -> bool:
        """Queue ``name``; returns whether it was added or moved up."""
        current = self.priority_of(name)
        if current is not None and current >= priority:
            return False
        if current is not None:
            del self._classes[current][name]
        self._classes[priority][name] = None
        self._wake()
        return True

    def discard(self, name: str) -> None:
        for names in self._classes.values():
            names.pop(name, None)

    def pop(self) -> str | None:
        """The next name to work on, or None when empty."""
        urgent = self._classes[Priority.URGENT]
        routine = self._classes[Priority.ROUTINE]
        take_routine = bool(routine) and (
            not urgent or self._urgent_streak >= self.routine_every - 1
        )
        if take_routine:
            self._urgent_streak = 0
            return routine.popitem(last=False)[0]
        if urgent:
            # Only a take that passed routine work over counts towards its turn.
            self._urgent_streak = self._urgent_streak + 1 if routine else 0
            return urgent.popitem(last=False)[0]
        return None

    async def get(self) -> str:
        while True:
            name = self.pop()
            if name is not None:
                return name
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _wake(self) -> None:
        # Wake every waiter: one cancelled just after its wake-up cannot strand
        # the item, and the few workers that find nothing simply wait again.
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
