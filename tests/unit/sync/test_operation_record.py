"""What a finished sync keeps in the Application's status, on plain data."""

from __future__ import annotations

from typing import Any

from tether.controller import operation


def state_with(applied: int) -> dict[str, Any]:
    resources: list[dict[str, Any]] = [
        {
            "kind": "ConfigMap",
            "namespace": "shop",
            "name": f"cm-{i}",
            "status": "Synced",
            "resourceVersion": str(i),
        }
        for i in range(applied)
    ]
    resources.append(
        {
            "kind": "Job",
            "name": "migrate-x",
            "hookType": "PreSync",
            "hookPhase": "Succeeded",
            "source": "migrate",
        }
    )
    resources.append({"kind": "ConfigMap", "name": "old", "status": "Pruned"})
    return {
        "phase": "Running",
        "steps": ["Sync/apply/0"],
        "step": 1,
        "id": "abc",
        "startedAt": "2026-01-01T00:00:00Z",
        "revision": "sha",
        "syncResult": {"revision": "sha", "resources": resources},
    }


def test_a_finished_sync_drops_its_step_bookkeeping_and_keeps_every_result() -> None:
    done = operation.finished(state_with(3), "sync succeeded: applied 3", ok=True)
    assert done["phase"] == "Succeeded" and "steps" not in done and "id" not in done
    assert len(done["syncResult"]["resources"]) == 5
    assert all("resourceVersion" not in r for r in done["syncResult"]["resources"])


def test_a_large_sync_keeps_hooks_and_prunes_and_counts_the_applied_it_leaves_out() -> None:
    state = state_with(operation.MAX_RESULTS + 10)
    outcome = operation.summary(state)
    assert len(outcome.applied) == operation.MAX_RESULTS + 10
    done = operation.finished(state, "ok", ok=True)
    kept = done["syncResult"]["resources"]
    assert len(kept) == operation.MAX_RESULTS
    assert {"migrate-x", "old"} <= {r["name"] for r in kept}
    assert done["syncResult"]["omitted"] == 12


def test_status_keys_a_finished_sync_no_longer_has_are_written_as_null() -> None:
    status: dict[str, Any] = {"operationState": state_with(1)}
    operation.put(status, {"phase": "Succeeded", "message": "ok"})
    assert status["operationState"]["steps"] is None
    assert status["operationState"]["phase"] == "Succeeded"
