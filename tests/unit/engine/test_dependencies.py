"""Dependencies between apps on plain data: who is ready, who waits, and cycles."""

from __future__ import annotations

from typing import Any

from tether.engine import dependencies as deps


def app(
    name: str,
    *,
    needs: list[str] | None = None,
    sync: str = "Synced",
    health: str = "Healthy",
    generation: int = 1,
    observed: int | None = 1,
    conditions: list[dict[str, Any]] | None = None,
    annotation: str = "",
    **extra: Any,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "sync": {"status": sync, "revision": "4f1c2a9b7e3d0c5a6b8e9f0a"},
        "health": {"status": health, "message": ""},
        "conditions": conditions or [],
    }
    if observed is not None:
        status["observedGeneration"] = observed
    meta: dict[str, Any] = {"name": name, "namespace": "tether", "generation": generation}
    if annotation:
        meta["annotations"] = {deps.ANNOTATION: annotation}
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": meta,
        "spec": {"dependsOn": [{"name": n} for n in needs or []]},
        "status": status,
        **extra,
    }


def test_depends_on_reads_the_spec_then_the_annotation_once_each() -> None:
    a = app("web", needs=["db", "queue"], annotation="queue, cache ,")
    assert deps.depends_on(a) == ["db", "queue", "cache"]


def test_a_synced_and_healthy_dependency_is_ready() -> None:
    verdict = deps.judge("web", ["db"], {"db": app("db")})
    assert verdict.ready
    assert verdict.waiting == {}


def test_each_reason_a_dependency_is_not_ready_is_named() -> None:
    deleting = app("db")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    running = app("db")
    running["status"]["operationState"] = {"phase": "Running", "message": "wave 1 of 2"}
    cases = {
        "it does not exist": None,
        "it is OutOfSync at 4f1c2a9b7e3d": app("db", sync="OutOfSync"),
        "it is Progressing at 4f1c2a9b7e3d": app("db", health="Progressing"),
        "not been reconciled since its spec changed": app("db", generation=3, observed=2),
        "a sync of it was requested": app("db", operation={"sync": {}}),
        "a sync of it is running": running,
        "it has SyncError: boom": app(
            "db", conditions=[{"type": "SyncError", "status": "True", "message": "boom"}]
        ),
        "it has DependencyNotReady: waiting for x": app(
            "db",
            conditions=[
                {"type": "DependencyNotReady", "status": "True", "message": "waiting for x"}
            ],
        ),
        "being deleted": deleting,
    }
    for words, dependency in cases.items():
        why = deps.not_ready("db", dependency)
        assert why is not None and words in why, (words, why)


def test_a_waiting_app_names_each_dependency_and_why() -> None:
    verdict = deps.judge(
        "web", ["db", "queue"], {"db": app("db", health="Degraded"), "queue": app("queue")}
    )
    assert not verdict.ready and verdict.cycle is None
    assert list(verdict.waiting) == ["db"]
    message = verdict.message()
    assert message.startswith("waiting for db: it is Degraded"), message
    assert "queue" not in message


def test_a_two_app_cycle_is_named_from_either_side() -> None:
    apps = {"a": app("a", needs=["b"]), "b": app("b", needs=["a"])}
    assert deps.judge("a", ["b"], apps).cycle == ["a", "b", "a"]
    assert deps.judge("b", ["a"], apps).cycle == ["b", "a", "b"]
    assert "dependency cycle: a -> b -> a" in deps.judge("a", ["b"], apps).message()


def test_a_longer_cycle_and_a_self_dependency_are_found() -> None:
    edges = {"a": ["x", "b"], "b": ["c"], "c": ["a"], "x": []}
    assert deps.find_cycle("a", edges) == ["a", "b", "c", "a"]
    assert deps.find_cycle("solo", {"solo": ["solo"]}) == ["solo", "solo"]


def test_an_app_that_only_depends_on_a_cycle_waits_instead_of_being_in_it() -> None:
    cycle_cond = [{"type": deps.CYCLE, "status": "True", "message": "dependency cycle: a -> b"}]
    apps = {
        "a": app("a", needs=["b"], conditions=cycle_cond),
        "b": app("b", needs=["a"], conditions=cycle_cond),
    }
    verdict = deps.judge("web", ["a"], apps)
    assert verdict.cycle is None
    assert "DependencyCycle" in verdict.waiting["a"]


def test_no_dependencies_is_always_ready() -> None:
    assert deps.judge("web", [], {}).ready
