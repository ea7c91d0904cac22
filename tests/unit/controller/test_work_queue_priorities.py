"""The work queue: urgent work first, each app once, routine work never starved."""

from __future__ import annotations

import asyncio

import pytest

from tether.controller.workqueue import Priority, WorkQueue

URGENT, ROUTINE = Priority.URGENT, Priority.ROUTINE


def drain(queue: WorkQueue) -> list[str]:
    out = []
    while (name := queue.pop()) is not None:
        out.append(name)
    return out


def test_drift_and_requests_go_ahead_of_a_queued_bulk_refresh() -> None:
    queue = WorkQueue(routine_every=1000)
    for i in range(5):
        queue.put(f"bulk-{i}", ROUTINE)
    queue.put("drifted", URGENT)
    queue.put("synced", URGENT)
    assert drain(queue) == ["drifted", "synced", "bulk-0", "bulk-1", "bulk-2", "bulk-3", "bulk-4"]


def test_each_class_is_first_in_first_out() -> None:
    queue = WorkQueue()
    for name in ["r1", "r2", "r3"]:
        queue.put(name, ROUTINE)
    for name in ["u1", "u2", "u3"]:
        queue.put(name, URGENT)
    order = drain(queue)
    assert [n for n in order if n.startswith("u")] == ["u1", "u2", "u3"]
    assert [n for n in order if n.startswith("r")] == ["r1", "r2", "r3"]


def test_a_queued_app_is_held_once_however_often_it_is_put() -> None:
    queue = WorkQueue()
    assert queue.put("a", ROUTINE)
    assert not queue.put("a", ROUTINE)
    queue.put("b", URGENT)
    assert not queue.put("b", URGENT)
    assert len(queue) == 2
    assert drain(queue) == ["b", "a"]
    assert len(queue) == 0


def test_a_routine_app_put_again_as_urgent_moves_up() -> None:
    queue = WorkQueue(routine_every=1000)
    for name in ["a", "b", "c"]:
        queue.put(name, ROUTINE)
    queue.put("x", URGENT)
    assert queue.put("c", URGENT)
    assert queue.priority_of("c") is URGENT
    assert drain(queue) == ["x", "c", "a", "b"]


def test_an_urgent_app_put_again_as_routine_keeps_its_place() -> None:
    queue = WorkQueue()
    queue.put("a", URGENT)
    queue.put("b", URGENT)
    assert not queue.put("a", ROUTINE)
    assert queue.priority_of("a") is URGENT
    assert drain(queue) == ["a", "b"]


def test_routine_work_gets_one_take_in_n_under_a_stream_of_urgent_work() -> None:
    queue = WorkQueue(routine_every=4)
    for i in range(3):
        queue.put(f"r{i}", ROUTINE)
    taken = []
    for i in range(12):
        queue.put(f"u{i}", URGENT)  # urgent work keeps arriving
        taken.append(queue.pop())
    assert [n for n in taken if n and n.startswith("r")] == ["r0", "r1", "r2"]
    assert taken[3] == "r0" and taken[7] == "r1" and taken[11] == "r2"


def test_urgent_takes_with_no_routine_waiting_do_not_count_towards_its_turn() -> None:
    queue = WorkQueue(routine_every=4)
    for i in range(10):
        queue.put(f"u{i}", URGENT)
        assert queue.pop() == f"u{i}"
    queue.put("r", ROUTINE)
    queue.put("u-next", URGENT)
    assert queue.pop() == "u-next"
    assert queue.pop() == "r"


def test_a_discarded_app_is_not_taken() -> None:
    queue = WorkQueue()
    queue.put("a", ROUTINE)
    queue.put("b", URGENT)
    queue.discard("a")
    assert "a" not in queue
    assert drain(queue) == ["b"]


def test_routine_every_below_two_is_refused() -> None:
    with pytest.raises(ValueError):
        WorkQueue(routine_every=1)


def test_a_waiting_worker_wakes_for_a_put() -> None:
    async def scenario() -> list[str]:
        queue = WorkQueue()
        workers = [asyncio.create_task(queue.get()) for _ in range(3)]
        await asyncio.sleep(0)
        queue.put("a", ROUTINE)
        queue.put("b", URGENT)
        done, pending = await asyncio.wait(workers, timeout=1.0)
        for task in pending:
            task.cancel()
        return sorted(t.result() for t in done)

    assert asyncio.run(scenario()) == ["a", "b"]
