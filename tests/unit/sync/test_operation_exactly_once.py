"""A sync recorded once and a request run once across a kill, decided on plain data."""

from __future__ import annotations

from typing import Any

from tether.controller import exactly_once, operation
from tether.controller import status as st
from tether.controller.passes import Pass

REQUEST = {"sync": {}, "initiatedBy": {"username": "ana"}}


def app(generation: int, *, requested: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": {"name": "shop", "generation": generation}}
    if requested:
        out["operation"] = REQUEST
    return out


def finished_for(generation: int) -> dict[str, Any]:
    p = Pass(app=app(generation), status={}, operation=REQUEST, sha="abc")
    state = operation.start(p, initiated_by="ana", started="2026-01-01T00:00:00Z", prune=False)
    return {"operationState": operation.finished(state, "sync succeeded: applied 1", ok=True)}


def test_a_started_sync_names_the_request_it_answers_and_its_result_keeps_it() -> None:
    p = Pass(app=app(7), status={}, operation=REQUEST, sha="abc")
    state = operation.start(p, initiated_by="ana", started="2026-01-01T00:00:00Z", prune=False)
    assert state[exactly_once.REQUEST_KEY] == 7
    assert operation.finished(state, "ok", ok=True)[exactly_once.REQUEST_KEY] == 7


def test_an_automated_sync_names_no_request() -> None:
    p = Pass(app=app(7, requested=False), status={}, sha="abc")
    state = operation.start(p, initiated_by="automated", started="2026-01-01T00:00:00Z", prune=True)
    assert exactly_once.REQUEST_KEY not in state
    assert exactly_once.REQUEST_KEY not in operation.finished(state, "ok", ok=True)


def test_a_request_whose_result_is_written_is_only_cleared_after_a_kill() -> None:
    assert exactly_once.answered(finished_for(7), app(7))


def test_a_new_request_after_a_finished_one_runs() -> None:
    # Clearing ``operation`` and setting it again each bump the generation.
    assert not exactly_once.answered(finished_for(7), app(9))


def test_a_running_sync_is_continued_not_taken_as_answered() -> None:
    p = Pass(app=app(7), status={}, operation=REQUEST, sha="abc")
    state = operation.start(p, initiated_by="ana", started="2026-01-01T00:00:00Z", prune=False)
    status = {"operationState": state}
    assert not exactly_once.answered(status, app(7))
    assert operation.running(status) is not None


def test_a_result_written_before_results_named_their_request_runs_it_again() -> None:
    status = finished_for(7)
    del status["operationState"][exactly_once.REQUEST_KEY]
    assert not exactly_once.answered(status, app(7))


def test_nothing_is_answered_when_nothing_is_requested() -> None:
    assert not exactly_once.answered(finished_for(7), app(7, requested=False))


def deploy(status: dict[str, Any], revision: str, operation_id: str = "") -> int:
    return st.append_history(
        status,
        revision=revision,
        initiated_by="automated",
        message="",
        limit=10,
        source={},
        operation_id=operation_id,
    )


def test_a_sync_finished_twice_is_in_the_history_once() -> None:
    status: dict[str, Any] = {}
    first = deploy(status, "abc", "op1")
    assert deploy(status, "abc", "op1") == first
    assert [h["operationId"] for h in status["history"]] == ["op1"]
    deploy(status, "abc", "op2")
    assert len(status["history"]) == 2


def test_an_automated_sync_of_the_deployed_revision_is_not_a_new_deploy() -> None:
    status: dict[str, Any] = {}
    deploy(status, "abc")
    assert not st.new_deploy(status, "abc", "automated")  # self-heal, or one continued
    assert st.new_deploy(status, "def", "automated")
    assert st.new_deploy(status, "abc", "ana")  # a requested sync always is
    assert st.new_deploy({}, "abc", "automated")
