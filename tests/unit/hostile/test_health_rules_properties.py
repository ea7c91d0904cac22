"""Health rules on hostile live objects: a custom resource's status can hold anything, and
health must still be an answer (Unknown at worst), never an exception."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hostile_inputs import API_KINDS, SLOW, k8s_objects, k8s_values, keys
from hypothesis import given
from hypothesis import strategies as st

from tether.engine import health, tree
from tether.engine.health.status import HealthResult, HealthStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CUSTOM = [
    k for k in API_KINDS if "." in k[0].split("/")[0] and not k[0].split("/")[0].endswith("k8s.io")
]


def _assessed(obj: dict[str, Any], children: list[dict[str, Any]] = ()) -> HealthResult:  # type: ignore[assignment]
    result = health.assess(obj, children, [], now=NOW)
    assert isinstance(result, HealthResult)
    assert isinstance(result.status, HealthStatus)
    assert isinstance(result.message, str)
    return result


@st.composite
def custom_resources(draw: st.DrawFn) -> dict[str, Any]:
    """A custom resource whose status is any JSON (no schema holds it)."""
    obj = draw(k8s_objects(CUSTOM))
    obj["status"] = draw(st.one_of(k8s_values(), st.dictionaries(keys, k8s_values(), max_size=6)))
    return obj


@SLOW
@given(custom_resources(), st.lists(k8s_objects(), max_size=2))
def test_any_custom_resource_status_gets_a_health_answer(
    obj: dict[str, Any], children: list[dict[str, Any]]
) -> None:
    _assessed(obj, children)


@SLOW
@given(k8s_objects(), st.lists(k8s_objects(), max_size=3))
def test_any_object_gets_a_health_answer(
    obj: dict[str, Any], children: list[dict[str, Any]]
) -> None:
    _assessed(obj, children)


@SLOW
@given(st.lists(k8s_objects(), max_size=5))
def test_a_tree_of_any_objects_gets_an_app_health(objs: list[dict[str, Any]]) -> None:
    built = tree.build_tree(objs[:2], objs, app_name="a", namespace="ns")
    status, message = built.health()
    assert isinstance(status, HealthStatus) and isinstance(message, str)


@pytest.mark.parametrize("observed", ["²", "\u0661", "12", "x", None, 3, True])
def test_an_observed_generation_that_is_not_a_number_is_not_a_crash(observed: object) -> None:
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "generation": 2},
        "status": {"observedGeneration": observed},
    }
    _assessed(obj)


def test_a_replicaset_revision_that_is_not_a_number_is_not_a_crash() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    replicasets = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": n, "annotations": {"deployment.kubernetes.io/revision": r}},
        }
        for n, r in (("a", "²"), ("b", "3"))
    ]
    assert tree.current_replicaset(deployment, replicasets)["metadata"]["name"] == "b"  # type: ignore[index]
