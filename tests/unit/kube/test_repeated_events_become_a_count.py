"""A repeated Event is one Event with a count, written at most once a heartbeat."""

from __future__ import annotations

from typing import Any

from tether.adapters.kube.event_correlator import EventCorrelator


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _event(message: str = "render failed", name: str = "shop.1") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "tether"},
        "involvedObject": {"kind": "Application", "name": "shop", "uid": "u1"},
        "reason": "ComparisonError",
        "message": message,
        "type": "Warning",
        "source": {"component": "tether-controller"},
    }


def test_the_first_is_created_and_a_burst_of_repeats_sends_nothing() -> None:
    clock = Clock()
    correlator = EventCorrelator(heartbeat=30, clock=clock)
    assert correlator.observe(_event()).action == "create"
    correlator.created(_event())
    for _ in range(20):
        clock.now += 1
        assert correlator.observe(_event("render failed", name="shop.2")).action == "none"


def test_a_repeat_after_the_heartbeat_writes_the_whole_count() -> None:
    clock = Clock()
    correlator = EventCorrelator(heartbeat=30, clock=clock)
    correlator.created(_event())
    clock.now += 10
    correlator.observe(_event())
    clock.now += 25
    decision = correlator.observe(_event())
    assert decision.action == "bump" and decision.series is not None
    assert (decision.series.name, decision.series.count) == ("shop.1", 3)


def test_other_words_are_another_event() -> None:
    correlator = EventCorrelator(clock=Clock())
    correlator.created(_event())
    assert correlator.observe(_event("cannot read the source")).action == "create"


def test_after_the_window_a_new_event_is_created() -> None:
    clock = Clock()
    correlator = EventCorrelator(window=600, clock=clock)
    correlator.created(_event())
    clock.now += 601
    assert correlator.observe(_event()).action == "create"


def test_the_oldest_series_go_past_the_limit() -> None:
    correlator = EventCorrelator(limit=2, clock=Clock())
    for word in ("a", "b", "c"):
        correlator.created(_event(word, name=word))
    assert correlator.observe(_event("a")).action == "create"
    assert correlator.observe(_event("c")).action != "create"
