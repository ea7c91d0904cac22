"""The delete guard refuses deletes that a controller or the next sync would undo."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.engine.guard import Refusal, check_delete
from tether.engine.objects import Obj, ObjectKey, key_of

OBJECTS: list[Obj] = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "guard" / "finance_objects.yaml").read_text()
)
BY_KEY = {key_of(o): o for o in OBJECTS}
MANAGED = {
    ObjectKey("apps", "Deployment", "finance", "finance-api"),
    ObjectKey("batch", "CronJob", "finance", "nightly-report"),
    ObjectKey("", "ConfigMap", "finance", "finance-api-config"),
}


def obj(kind: str, name: str) -> Obj:
    return next(o for o in OBJECTS if (o["kind"], o["metadata"]["name"]) == (kind, name))


def check(target: Obj, auto_sync: bool = True, lookup: Any = None) -> Refusal | None:
    return check_delete(target, MANAGED, auto_sync, lookup or BY_KEY.get)


def test_old_replicaset_is_refused_as_rollback_history() -> None:
    refusal = check(obj("ReplicaSet", "finance-api-6b8f9c7d5"))
    assert refusal is not None and refusal.code == "owned-by-controller"
    assert refusal.reason == (
        "ReplicaSet finance-api-6b8f9c7d5 is owned by Deployment finance-api and kept as "
        "revision 1 for rollback; roll back with `tether app rollback`"
    )


def test_current_replicaset_is_refused_because_it_would_be_recreated() -> None:
    refusal = check(obj("ReplicaSet", "finance-api-7d9c4b6f8"))
    assert refusal is not None
    assert "is owned by Deployment finance-api; it would be recreated" in refusal.reason


def test_pod_is_refused_naming_replicaset_and_deployment() -> None:
    refusal = check(obj("Pod", "finance-api-7d9c4b6f8-x2x4q"), auto_sync=False)
    assert refusal is not None
    assert refusal.reason.startswith(
        "Pod finance-api-7d9c4b6f8-x2x4q is owned by ReplicaSet finance-api-7d9c4b6f8 of "
        "Deployment finance-api; it would be recreated"
    )
    assert "change Deployment finance-api instead" in refusal.reason


def test_job_of_cronjob_is_refused() -> None:
    refusal = check(obj("Job", "nightly-report-29402520"))
    assert refusal is not None
    assert "owned by CronJob nightly-report" in refusal.reason


def test_owned_object_is_refused_even_when_owner_is_unknown() -> None:
    refusal = check(obj("Pod", "finance-api-7d9c4b6f8-x2x4q"), lookup=lambda _key: None)
    assert refusal is not None
    assert "owned by ReplicaSet finance-api-7d9c4b6f8; it would be recreated" in refusal.reason


def test_git_managed_object_with_auto_sync_is_refused() -> None:
    refusal = check(obj("ConfigMap", "finance-api-config"))
    assert refusal is not None and refusal.code == "managed-by-git"
    assert refusal.reason == (
        "ConfigMap finance-api-config is managed from Git and auto-sync is on: it would come "
        "back at the next sync; remove it from Git instead"
    )
    assert refusal.to_json()["object"] == "ConfigMap/finance/finance-api-config"


@pytest.mark.parametrize(
    ("kind", "name", "auto_sync"),
    [
        ("ConfigMap", "finance-api-config", False),
        ("ConfigMap", "debug-dump", True),
        ("Deployment", "finance-api", False),
    ],
)
def test_deletes_that_stick_are_allowed(kind: str, name: str, auto_sync: bool) -> None:
    assert check(obj(kind, name), auto_sync=auto_sync) is None


def test_non_controller_owner_reference_does_not_block_delete() -> None:
    assert check(obj("ConfigMap", "istio-ca-root-cert")) is None


def test_managed_key_without_namespace_still_counts_as_managed() -> None:
    target = obj("ConfigMap", "debug-dump")
    refusal = check_delete(target, {ObjectKey("", "ConfigMap", "", "debug-dump")}, True, BY_KEY.get)
    assert refusal is not None and refusal.code == "managed-by-git"
