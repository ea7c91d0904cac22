"""Sync options per object, keeping ignored fields live, and client-side apply patches."""

from __future__ import annotations

import json
from typing import Any

from tether.engine import last_applied, sync_options
from tether.engine.diff import IgnoreRule, keep_live_fields


def _cm(notes: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "c", "namespace": "n"}
    if notes:
        meta["annotations"] = notes
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta} | extra


def test_the_annotation_lists_options_separated_by_commas() -> None:
    assert sync_options.parse(" Replace=true,Validate=false , ,Prune") == {
        "Replace": "true",
        "Validate": "false",
        "Prune": "",
    }


def test_defaults_are_server_side_apply_with_strict_validation() -> None:
    opts = sync_options.for_app([]).for_object(_cm())
    assert opts.server_side_apply and not opts.replace and not opts.client_side
    assert opts.field_validation == "Strict"
    assert not opts.skip_dry_run_on_missing_resource and opts.keep_live == ()


def test_app_options_apply_to_every_object() -> None:
    app = sync_options.for_app(
        ["Replace=true", "Validate=false", "SkipDryRunOnMissingResource=true"]
    )
    opts = app.for_object(_cm())
    assert opts.replace and opts.field_validation == "Ignore"
    assert opts.skip_dry_run_on_missing_resource


def test_validate_false_writes_client_side_because_apply_patches_are_always_strict() -> None:
    obj = _cm({sync_options.ARGO_ANNOTATION: "Validate=false"})
    opts = sync_options.for_app([]).for_object(obj)
    assert opts.client_side and opts.field_validation == "Ignore"


def test_an_object_annotation_wins_over_the_app() -> None:
    app = sync_options.for_app(["Validate=false"])
    obj = _cm({sync_options.ARGO_ANNOTATION: "Validate=true,ServerSideApply=false"})
    opts = app.for_object(obj)
    assert opts.validate and opts.client_side
    assert app.for_object(_cm()).field_validation == "Ignore"


def test_the_tether_alias_wins_over_the_argo_annotation() -> None:
    obj = _cm(
        {
            sync_options.ARGO_ANNOTATION: "Replace=true",
            sync_options.TETHER_ANNOTATION: "Replace=false",
        }
    )
    assert not sync_options.for_app([]).for_object(obj).replace


def test_replace_takes_precedence_over_client_side_apply() -> None:
    obj = _cm({sync_options.ARGO_ANNOTATION: "Replace=true,ServerSideApply=false"})
    opts = sync_options.for_app([]).for_object(obj)
    assert opts.replace and not opts.client_side


def test_app_only_unknown_and_odd_options_in_an_annotation_are_listed_as_ignored() -> None:
    obj = _cm(
        {
            sync_options.ARGO_ANNOTATION: (
                "ApplyOutOfSyncOnly=true,Frobnicate=true,Replace=maybe,Prune=false,Delete=confirm"
            )
        }
    )
    opts = sync_options.for_app([]).for_object(obj)
    assert not opts.replace
    assert [i.split(":")[0] for i in opts.ignored] == [
        "ApplyOutOfSyncOnly=true",
        "Frobnicate=true",
        "Replace=maybe",
        "Delete=confirm",
    ]
    assert "app-level" in opts.ignored[0]


def test_respect_ignore_differences_carries_the_rules_for_matching_objects_only() -> None:
    rule = IgnoreRule("apps", "Deployment", json_pointers=("/spec/replicas",))
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    off = sync_options.for_app([], [rule])
    on = sync_options.for_app(["RespectIgnoreDifferences=true"], [rule])
    assert off.for_object(deployment).keep_live == ()
    assert on.for_object(deployment).keep_live == (rule,)
    assert on.for_object(_cm()).keep_live == ()


def test_app_level_flags() -> None:
    app = sync_options.for_app(["ApplyOutOfSyncOnly=true", "FailOnSharedResource=true"])
    assert app.apply_out_of_sync_only and app.fail_on_shared_resource
    assert not app.respect_ignore_differences


def _deployment(replicas: int | None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = dict(spec)
    if replicas is not None:
        body["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "n"},
        "spec": body,
    }


def test_keep_live_fields_takes_the_live_value_at_a_json_pointer() -> None:
    rule = IgnoreRule("apps", "Deployment", json_pointers=("/spec/replicas",))
    out = keep_live_fields(_deployment(1, paused=False), _deployment(5), [rule])
    assert out["spec"] == {"replicas": 5, "paused": False}


def test_keep_live_fields_drops_a_field_the_live_object_lacks() -> None:
    rule = IgnoreRule("apps", "Deployment", json_pointers=("/spec/replicas",))
    assert "replicas" not in keep_live_fields(_deployment(1), _deployment(None), [rule])["spec"]


def test_keep_live_fields_copies_what_a_named_manager_owns() -> None:
    live = _deployment(7)
    live["metadata"]["managedFields"] = [
        {"manager": "hpa", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        {"manager": "tether", "fieldsV1": {"f:spec": {"f:paused": {}}}},
    ]
    live["spec"]["paused"] = True
    rule = IgnoreRule("apps", "Deployment", managed_fields_managers=("hpa",))
    out = keep_live_fields(_deployment(1, paused=False), live, [rule])
    assert out["spec"] == {"replicas": 7, "paused": False}


def test_keep_live_fields_ignores_rules_for_other_objects() -> None:
    rule = IgnoreRule("", "ConfigMap", json_pointers=("/spec/replicas",))
    assert keep_live_fields(_deployment(1), _deployment(5), [rule])["spec"]["replicas"] == 1


def test_the_last_applied_annotation_holds_the_object_without_itself() -> None:
    obj = _cm({"team": "finance"}, data={"a": "1"})
    out = last_applied.with_last_applied(obj)
    config = json.loads(out["metadata"]["annotations"][last_applied.LAST_APPLIED])
    assert config == obj
    assert last_applied.last_applied(out) == obj
    again = last_applied.with_last_applied(out)
    assert again == out


def test_three_way_patch_sets_changes_and_deletes_only_what_the_last_apply_set() -> None:
    original = _cm(data={"a": "1", "gone": "x"})
    desired = _cm(data={"a": "2", "new": "y"})
    live = _cm(data={"a": "1", "gone": "x", "by-hand": "z"})
    assert last_applied.three_way_patch(original, desired, live) == {
        "data": {"a": "2", "new": "y", "gone": None}
    }


def test_three_way_patch_without_a_last_apply_deletes_nothing() -> None:
    desired = _cm(data={"a": "1"})
    live = _cm(data={"a": "1", "by-hand": "z"})
    assert last_applied.three_way_patch(None, desired, live) == {}


def test_three_way_patch_replaces_lists_whole() -> None:
    desired = _cm(items=[1, 2])
    live = _cm(items=[1, 2, 3])
    assert last_applied.three_way_patch(desired, desired, live) == {"items": [1, 2]}
