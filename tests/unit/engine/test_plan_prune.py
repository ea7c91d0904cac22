"""The sync plan prunes only objects that are still this app's, and remembers which (uid)."""

from __future__ import annotations

from typing import Any

from tether.engine import plan
from tether.engine.objects import key_of

LABEL = ("app.tether.dev/instance", "team-a")


def cm(name: str, *, app: str | None = "team-a", uid: str = "", **meta: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "namespace": "finance", "uid": uid or f"uid-{name}"}
    if app:
        m["labels"] = {LABEL[0]: app}
    m.update(meta)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": m}


def plan_for(live_objects: list[dict[str, Any]], *, prune: bool = True) -> plan.SyncPlan:
    live = {key_of(o): o for o in live_objects}
    return plan.plan_sync(
        [cm("kept")],
        out_of_sync=None,
        inventory=[plan.inventory_id(k) for k in live] + [plan.inventory_id(key_of(cm("kept")))],
        live=live,
        prune=prune,
        allow_empty=False,
        app_label=LABEL,
    )


def test_a_dropped_object_of_this_app_is_pruned_by_its_uid() -> None:
    p = plan_for([cm("old", uid="u-7")])
    assert p.prune == [key_of(cm("old"))]
    assert p.prune_uids == {key_of(cm("old")): "u-7"}


def test_objects_that_lost_the_label_or_belong_to_another_app_are_not_pruned() -> None:
    p = plan_for([cm("unlabelled", app=None), cm("theirs", app="team-b")])
    assert p.prune == [] and p.skipped_prune == [] and p.prune_uids == {}


def test_an_object_a_controller_owns_is_not_pruned() -> None:
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "controller": True}
    p = plan_for([cm("child", ownerReferences=[owner])])
    assert p.prune == []


def test_with_prune_off_ours_are_listed_as_requiring_pruning_only() -> None:
    p = plan_for([cm("old"), cm("theirs", app="team-b")], prune=False)
    assert p.prune == [] and p.skipped_prune == [key_of(cm("old"))]
