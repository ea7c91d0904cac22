"""The list-then-watch loop: resumes where it was, relists only when told the version is gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tether.adapters.kube import reflector as reflector_module
from tether.adapters.kube.client import WatchEvent
from tether.adapters.kube.errors import ApiError, Gone
from tether.adapters.kube.reflector import Reflector


def _event(kind: str, rv: str, name: str = "a") -> WatchEvent:
    return WatchEvent(kind, {"metadata": {"name": name, "resourceVersion": rv}})


class _Script:
    """Each watch call plays the next scripted stream; an exception entry is raised there."""

    def __init__(self, streams: list[list[WatchEvent] | Exception]) -> None:
        self.streams = streams
        self.watched_from: list[str] = []
        self.lists = 0
        self.seen: list[str] = []
        self.failures: list[Exception] = []
        self.done = asyncio.Event()

    async def relist(self) -> str:
        self.lists += 1
        return f"list-{self.lists}"

    async def watch(self, version: str) -> AsyncIterator[WatchEvent]:
        self.watched_from.append(version)
        if not self.streams:
            self.done.set()
            await asyncio.Event().wait()  # the last watch stays open
        step = self.streams.pop(0)
        if isinstance(step, Exception):
            raise step
        for event in step:
            yield event

    def reflector(self, stopping: bool = False) -> Reflector:
        """``stopping``: the owner starts closing once the first watch has failed."""
        return Reflector(
            what="things",
            relist=self.relist,
            watch=self.watch,
            on_event=lambda e: self.seen.append(f"{e.type} {e.object['metadata']['name']}"),
            on_failure=self.failures.append,
            stopping=lambda: stopping and bool(self.watched_from),
        )


async def _play(script: _Script) -> None:
    task = asyncio.create_task(script.reflector().run())
    await asyncio.wait_for(script.done.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reflector_module, "FIRST_RETRY", 0.0)


async def test_a_watch_that_ends_is_opened_again_from_the_last_version_seen() -> None:
    script = _Script([[_event("ADDED", "5"), _event("BOOKMARK", "7", "x")], []])
    await _play(script)
    assert script.lists == 1
    assert script.watched_from == ["list-1", "7", "7"]
    assert script.seen == ["ADDED a"]  # a bookmark only moves the version on


async def test_a_version_too_old_for_the_server_lists_again() -> None:
    script = _Script([[_event("MODIFIED", "9")], Gone(410, "Expired", "too old resource version")])
    await _play(script)
    assert script.lists == 2
    assert script.watched_from == ["list-1", "9", "list-2"]
    assert script.failures == []


async def test_other_failures_wait_and_watch_again_from_the_same_version() -> None:
    refused = ApiError(403, "Forbidden", "watch forbidden")
    script = _Script([[_event("ADDED", "3")], refused, RuntimeError("reset")])
    await _play(script)
    assert script.lists == 1
    assert script.watched_from == ["list-1", "3", "3", "3"]
    assert script.failures == [refused, script.failures[1]]
    assert isinstance(script.failures[1], RuntimeError)


async def test_an_owner_that_is_closing_ends_the_loop_without_a_retry() -> None:
    script = _Script([RuntimeError("closed under it")])
    await asyncio.wait_for(script.reflector(stopping=True).run(), 5)
    assert script.watched_from == ["list-1"] and script.failures == []
