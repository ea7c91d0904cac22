"""Whose object is it: takeover refused, adoption only when allowed, deletes only of ours."""

from __future__ import annotations

from typing import Any

from tether.engine import adoption
from tether.engine.objects import ObjectKey, key_of

LABEL = "app.tether.dev/instance"


def cm(
    name: str = "settings",
    *,
    app: str | None = None,
    adopt: str | None = None,
    uid: str = "u-1",
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "finance", "uid": uid}
    if app:
        meta["labels"] = {LABEL: app}
    if adopt:
        meta["annotations"] = {adoption.ADOPT_ANNOTATION: adopt}
    if owner:
        meta["ownerReferences"] = [owner]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"a": "1"}}


KEY = key_of(cm())
RS_OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-6b8", "controller": True}


def judge_one(live: dict[str, Any] | None, **kw: Any) -> adoption.Claim:
    return adoption.claim(KEY, live, app_name="team-a", **kw)


def test_an_object_that_does_not_exist_is_simply_created() -> None:
    assert judge_one(None).verdict == adoption.NEW


def test_an_object_with_this_apps_label_is_ours() -> None:
    assert judge_one(cm(app="team-a")).verdict == adoption.OURS


def test_an_unlabelled_object_is_refused_and_the_message_names_it_and_the_way_out() -> None:
    c = judge_one(cm())
    assert c.refused and c.verdict == adoption.UNMANAGED
    assert "ConfigMap finance/settings exists and is not managed by any app" in c.message
    assert "AdoptExisting=true" in c.message and "tether.dev/adopt=team-a" in c.message


def test_another_apps_object_is_shared_and_names_its_owner() -> None:
    c = judge_one(cm(app="team-b"))
    assert c.refused and c.verdict == adoption.SHARED and c.owner == "team-b"
    assert c.message.startswith("ConfigMap finance/settings belongs to app 'team-b'")


def test_adopt_existing_adopts_unlabelled_objects_but_never_another_apps() -> None:
    assert judge_one(cm(), adopt_existing=True).verdict == adoption.ADOPT
    assert judge_one(cm(app="team-b"), adopt_existing=True).verdict == adoption.SHARED


def test_the_adopt_annotation_lets_exactly_the_named_app_take_it() -> None:
    assert judge_one(cm(adopt="team-a")).verdict == adoption.ADOPT
    assert judge_one(cm(app="team-b", adopt="team-a")).verdict == adoption.ADOPT
    assert judge_one(cm(adopt="team-c")).refused
    assert judge_one(cm(app="team-b", adopt="team-c")).refused


def test_an_object_a_controller_owns_is_not_adopted_even_with_adopt_existing() -> None:
    c = judge_one(cm(owner=RS_OWNER), adopt_existing=True)
    assert c.refused and "controlled by ReplicaSet api-6b8" in c.message


def test_an_unlabelled_object_in_the_inventory_is_ours_again() -> None:
    assert judge_one(cm(), in_inventory=True).verdict == adoption.OURS
    assert judge_one(cm(app="team-b"), in_inventory=True).verdict == adoption.SHARED


def test_judge_maps_every_rendered_object_and_shared_message_lists_only_shared() -> None:
    desired = [cm("a", app="team-a"), cm("b", app="team-a"), cm("c", app="team-a")]
    live = {key_of(cm("a")): cm("a", app="team-b"), key_of(cm("b")): cm("b")}
    claims = adoption.judge(desired, live, app_name="team-a")
    assert [c.verdict for c in claims] == [adoption.SHARED, adoption.UNMANAGED, adoption.NEW]
    message = adoption.shared_message(claims)
    assert message is not None and "ConfigMap finance/a belongs to app 'team-b'" in message
    assert "finance/b" not in message
    assert adoption.shared_message(claims[1:]) is None


def test_a_cluster_scoped_object_is_described_without_a_namespace() -> None:
    assert adoption.describe(ObjectKey("", "Namespace", "", "finance")) == "Namespace finance"


def test_delete_needs_this_apps_label_no_controller_and_the_same_uid() -> None:
    assert adoption.delete_refusal(cm(app="team-a"), app_name="team-a", uid="u-1") is None
    lost = adoption.delete_refusal(cm(), app_name="team-a")
    assert lost is not None and "not managed by any app" in lost
    other = adoption.delete_refusal(cm(app="team-b"), app_name="team-a")
    assert other is not None and "belongs to app 'team-b'" in other
    owned = adoption.delete_refusal(cm(app="team-a", owner=RS_OWNER), app_name="team-a")
    assert owned is not None and "controlled by ReplicaSet" in owned
    replaced = adoption.delete_refusal(cm(app="team-a", uid="u-2"), app_name="team-a", uid="u-1")
    assert replaced is not None and "replaced by another object" in replaced
    assert adoption.delete_refusal(None, app_name="team-a") is not None


def test_deleting_by_hand_needs_the_app_label_on_the_object_or_the_one_above_it() -> None:
    pod = cm("pod", owner=RS_OWNER)
    assert adoption.delete_resource_refusal(pod, cm("dep", app="team-a"), app_name="team-a") is None
    assert adoption.delete_resource_refusal(cm(app="team-a"), None, app_name="team-a") is None
    other = adoption.delete_resource_refusal(pod, cm("dep", app="team-b"), app_name="team-a")
    assert other is not None and "belongs to app 'team-b'" in other
    orphan = adoption.delete_resource_refusal(cm(), None, app_name="team-a")
    assert orphan is not None and "not managed by any app" in orphan


def test_an_existing_unlabelled_namespace_rendered_from_git_is_a_takeover() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "finance", "uid": "n"}}
    key = key_of(ns)
    c = adoption.claim(key, ns, app_name="team-a")
    assert c.refused and c.message.startswith("Namespace finance exists and is not managed")


def test_the_namespace_create_namespace_made_for_the_app_may_be_adopted_by_it_only() -> None:
    made = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "finance", "annotations": {adoption.ADOPT_ANNOTATION: "team-a"}},
    }
    key = key_of(made)
    assert adoption.claim(key, made, app_name="team-a").verdict == adoption.ADOPT
    assert adoption.claim(key, made, app_name="team-b").refused
