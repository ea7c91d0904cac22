"""ignoreDifferences in the diff: a field a rule names does not make an object OutOfSync."""

from __future__ import annotations

from typing import Any

from tether.engine.diff import IgnoreRule, comparable, compare, normalise


def _deployment(replicas: int, image: str = "api:1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "finance"},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"image": image}]}}},
    }


def _scaled_by_hpa(replicas: int) -> dict[str, Any]:
    live = _deployment(replicas)
    live["metadata"]["managedFields"] = [
        {"manager": "hpa", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        {"manager": "tether", "fieldsV1": {"f:spec": {"f:template": {}}}},
    ]
    live["metadata"]["resourceVersion"] = "42"
    live["status"] = {"replicas": replicas}
    return live


def test_fields_a_named_manager_owns_are_ignored() -> None:
    rule = IgnoreRule("apps", "Deployment", managed_fields_managers=("hpa",))
    assert compare(_deployment(1), _scaled_by_hpa(7), [rule]).status == "Synced"


def test_fields_other_managers_own_still_differ() -> None:
    rule = IgnoreRule("apps", "Deployment", managed_fields_managers=("hpa",))
    verdict = compare(_deployment(1, image="api:2"), _scaled_by_hpa(7), [rule])
    assert verdict.status == "OutOfSync"
    assert verdict.changed_paths == ["/spec/template/spec/containers/0/image"]


def test_without_the_rule_the_manager_owned_field_differs() -> None:
    verdict = compare(_deployment(1), _scaled_by_hpa(7), [])
    assert verdict.changed_paths == ["/spec/replicas"]


def test_a_json_pointer_rule_ignores_the_field_on_both_sides() -> None:
    rule = IgnoreRule("apps", "Deployment", json_pointers=("/spec/replicas",))
    assert compare(_deployment(1), _scaled_by_hpa(7), [rule]).status == "Synced"


def test_the_comparable_view_leaves_the_object_as_it_was() -> None:
    live = _scaled_by_hpa(3)
    before = normalise(live) | {"status": live["status"]}
    view = comparable(live)
    assert view == normalise(live)
    assert "status" not in view and "managedFields" not in view["metadata"]
    assert live["metadata"]["managedFields"] and live["status"] == {"replicas": 3}
    assert normalise(live) | {"status": live["status"]} == before
