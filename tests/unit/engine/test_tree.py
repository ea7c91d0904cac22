"""The resource tree: ownership, rollout history, orphans and the app's health."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.engine.health import HealthStatus
from tether.engine.tree import ResourceTree, build_tree

FIXTURE = Path(__file__).parent / "fixtures" / "tree" / "finance_app.yaml"


def scenario() -> dict[str, Any]:
    data = yaml.safe_load(FIXTURE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture
def tree() -> ResourceTree:
    case = scenario()
    return build_tree(
        case["managed"], case["live"], app_name=case["app"], namespace=case["namespace"]
    )


def roles(tree: ResourceTree) -> dict[tuple[str, str], str]:
    return {(n.key.kind, n.key.name): n.role for n in tree.nodes}


def test_objects_declared_in_git_are_managed(tree: ResourceTree) -> None:
    managed = {(n.key.kind, n.key.name) for n in tree.by_role("managed")}
    assert managed == {
        ("Deployment", "finance-api"),
        ("Service", "finance-api"),
        ("CronJob", "nightly-report"),
        ("ConfigMap", "finance-api-config"),
        ("ConfigMap", "finance-feature-flags"),
    }


def test_git_object_without_namespace_is_found_in_the_destination_namespace(
    tree: ResourceTree,
) -> None:
    node = tree.find("ConfigMap", "finance-api-config")
    assert node is not None and node.uid == "cm-0001"


def test_managed_object_absent_from_cluster_is_missing(tree: ResourceTree) -> None:
    node = tree.find("ConfigMap", "finance-feature-flags")
    assert node is not None
    assert node.health.status is HealthStatus.MISSING
    assert node.id == "missing:ConfigMap/finance/finance-feature-flags"


def test_replicasets_and_pods_are_children_of_the_deployment(tree: ResourceTree) -> None:
    deployment = tree.find("Deployment", "finance-api")
    assert deployment is not None
    below = {(n.key.kind, n.key.name) for n in tree.descendants(deployment.id)}
    assert ("ReplicaSet", "finance-api-7d9c4b6f8") in below
    assert ("Pod", "finance-api-7d9c4b6f8-x2x4q") in below
    pod = tree.find("Pod", "finance-api-7d9c4b6f8-x2x4q")
    assert pod is not None and pod.role == "child" and pod.owner == "rs-0004"


def test_old_replicaset_is_rollout_history_kept_for_rollback(tree: ResourceTree) -> None:
    old = tree.find("ReplicaSet", "finance-api-5c7d8e9f1")
    current = tree.find("ReplicaSet", "finance-api-7d9c4b6f8")
    assert old is not None and current is not None
    assert old.role == "history"
    assert old.note == "rollout history, kept for rollback"
    assert old.revision == "3"
    assert current.role == "child" and current.revision == "4"


def test_endpoint_slices_belong_to_their_service_by_owner_or_label(tree: ResourceTree) -> None:
    service = tree.find("Service", "finance-api")
    assert service is not None
    children = {(n.key.kind, n.key.name) for n in tree.children(service.id)}
    assert children == {
        ("EndpointSlice", "finance-api-8k2lp"),
        ("EndpointSlice", "finance-api-mirror-abcde"),
        ("Endpoints", "finance-api"),
    }


def test_jobs_and_their_pods_belong_to_the_cronjob(tree: ResourceTree) -> None:
    cronjob = tree.find("CronJob", "nightly-report")
    assert cronjob is not None
    below = {(n.key.kind, n.key.name) for n in tree.descendants(cronjob.id)}
    assert below == {("Job", "nightly-report-29402520"), ("Pod", "nightly-report-29402520-7hq2v")}


def test_unowned_strays_in_the_namespace_are_orphans(tree: ResourceTree) -> None:
    orphans = {(n.key.kind, n.key.name): n.note for n in tree.by_role("orphan")}
    assert set(orphans) == {("ConfigMap", "debug-dump"), ("ConfigMap", "finance-legacy-settings")}
    assert "no longer in Git" in orphans[("ConfigMap", "finance-legacy-settings")]


def test_system_objects_and_other_apps_objects_are_not_orphans(tree: ResourceTree) -> None:
    names = {(n.key.kind, n.key.name) for n in tree.nodes}
    for excluded in [
        ("ServiceAccount", "default"),
        ("ConfigMap", "kube-root-ca.crt"),
        ("Secret", "payments-db"),
        ("Secret", "legacy-token"),
        ("Event", "finance-api.187b2c0e1f3a9d4e"),
        ("ConfigMap", "other-namespace-stray"),
    ]:
        assert excluded not in names


def test_instance_label_is_a_parameter() -> None:
    case = scenario()
    tree = build_tree(
        case["managed"],
        case["live"],
        app_name=case["app"],
        namespace=case["namespace"],
        instance_label="example.com/app",
    )
    assert ("Secret", "payments-db") in {(n.key.kind, n.key.name) for n in tree.by_role("orphan")}


def test_app_health_is_decided_by_managed_objects_only(tree: ResourceTree) -> None:
    status, message = tree.health()
    assert status is HealthStatus.MISSING
    assert message.startswith("ConfigMap finance-feature-flags:")


def test_tree_json_has_nodes_with_health_revision_owner_and_edges(tree: ResourceTree) -> None:
    data = tree.to_json()
    node = next(n for n in data["nodes"] if n["name"] == "finance-api-5c7d8e9f1")
    assert node["kind"] == "ReplicaSet"
    assert node["revision"] == "3"
    assert node["owner"] == "d-0001"
    assert node["health"]["status"] == "Healthy"
    assert {"from": "d-0001", "to": "rs-0003"} in data["edges"]
    assert all({"kind", "name", "health", "revision", "owner"} <= set(n) for n in data["nodes"])


def test_without_revision_annotation_the_highest_revision_is_current() -> None:
    case = scenario()
    live = [dict(o) for o in case["live"]]
    deployment = next(o for o in live if o["kind"] == "Deployment")
    deployment["metadata"] = {**deployment["metadata"], "annotations": {}}
    tree = build_tree(case["managed"], live, app_name="finance", namespace="finance")
    assert roles(tree)[("ReplicaSet", "finance-api-7d9c4b6f8")] == "child"
    assert roles(tree)[("ReplicaSet", "finance-api-5c7d8e9f1")] == "history"


def test_without_destination_namespace_no_orphans_are_reported() -> None:
    case = scenario()
    tree = build_tree(case["managed"], case["live"], app_name="finance")
    assert tree.by_role("orphan") == []
