"""Waves, hooks and the steps of a sync, on plain data (Argo CD's annotations and Helm's)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tether.engine import diagnosis, hooks, phases, plan, waves
from tether.engine.health import HealthStatus, assess
from tether.engine.objects import ObjectKey, key_of
from tether.engine.tree import HOOK, build_tree

LABEL = ("app.tether.dev/instance", "shop")


def obj(kind: str, name: str, api: str = "v1", **notes: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop", "annotations": dict(notes)}
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def job(name: str, **notes: str) -> dict[str, Any]:
    return obj("Job", name, "batch/v1", **notes)


ARGO_WAVE = "argocd.argoproj.io/sync-wave"
TETHER_WAVE = "tether.dev/sync-wave"
ARGO_HOOK = "argocd.argoproj.io/hook"


def test_wave_comes_from_argo_cd_the_tether_alias_or_helm_hook_weight() -> None:
    assert waves.wave_of(obj("ConfigMap", "a", **{ARGO_WAVE: "-1"})) == -1
    assert waves.wave_of(obj("ConfigMap", "a", **{TETHER_WAVE: "2"})) == 2
    assert waves.wave_of(obj("ConfigMap", "a", **{"helm.sh/hook-weight": "5"})) == 5
    assert waves.wave_of(obj("ConfigMap", "a")) == 0


def test_a_wave_that_is_not_an_integer_is_refused_naming_the_object() -> None:
    with pytest.raises(waves.WaveError, match=r"ConfigMap/a: annotation .*sync-wave='first'"):
        waves.wave_of(obj("ConfigMap", "a", **{ARGO_WAVE: "first"}))


def test_prune_delete_and_prune_last_options_from_either_annotation() -> None:
    keep = obj("ConfigMap", "a", **{"argocd.argoproj.io/sync-options": "Prune=false,Delete=false"})
    assert not waves.may_prune(keep) and not waves.may_delete(keep)
    last = obj("ConfigMap", "b", **{"tether.dev/sync-options": "PruneLast=true"})
    assert waves.prune_last(last) and waves.may_prune(last)


def test_argo_hook_types_and_skip() -> None:
    assert hooks.hook_types(job("m", **{ARGO_HOOK: "PreSync"})) == ["PreSync"]
    assert hooks.hook_types(job("m", **{"tether.dev/hook": "PostSync"})) == ["PostSync"]
    assert hooks.hook_types(job("m", **{ARGO_HOOK: "Skip"})) == ["Skip"]
    assert hooks.hook_types(obj("ConfigMap", "c")) == []
    with pytest.raises(hooks.HookError, match="unknown hook 'Before'"):
        hooks.hook_types(job("m", **{ARGO_HOOK: "Before"}))


@pytest.mark.parametrize(
    ("helm", "expected"),
    [
        ("pre-install", ["PreSync"]),
        ("pre-install,pre-upgrade", ["PreSync"]),
        ("post-install,post-upgrade", ["PostSync"]),
        ("post-delete", ["PostDelete"]),
        ("crd-install", []),
        ("test", ["Skip"]),
        ("pre-rollback", ["Skip"]),
    ],
)
def test_helm_hooks_map_as_argo_cd_maps_them(helm: str, expected: list[str]) -> None:
    assert hooks.hook_types(job("h", **{"helm.sh/hook": helm})) == expected


def test_delete_policies_default_to_before_hook_creation_and_helm_maps() -> None:
    assert hooks.delete_policies(job("m", **{ARGO_HOOK: "PreSync"})) == ["BeforeHookCreation"]
    argo = job("m", **{"argocd.argoproj.io/hook-delete-policy": "HookSucceeded,HookFailed"})
    assert hooks.delete_policies(argo) == ["HookSucceeded", "HookFailed"]
    helm = job("m", **{"helm.sh/hook-delete-policy": "hook-succeeded"})
    assert hooks.delete_policies(helm) == ["HookSucceeded"]


def test_split_takes_hooks_and_skipped_objects_out_of_the_desired_state() -> None:
    parts = hooks.split(
        [
            obj("ConfigMap", "c"),
            job("migrate", **{ARGO_HOOK: "PreSync"}),
            obj("ConfigMap", "never", **{ARGO_HOOK: "Skip"}),
        ]
    )
    assert [key_of(o).name for o in parts.resources] == ["c"]
    assert [key_of(o).name for o in parts.hooks] == ["migrate"]
    assert [key_of(o).name for o in parts.skipped] == ["never"]


def test_steps_are_phases_then_waves_with_prunes_after_the_applies_in_reverse() -> None:
    resources = [
        obj("ConfigMap", "db", **{ARGO_WAVE: "-1"}),
        obj("Deployment", "api", "apps/v1"),
        obj("ConfigMap", "smoke-config", **{ARGO_WAVE: "1"}),
    ]
    hook_objs = [
        job("migrate", **{ARGO_HOOK: "PreSync"}),
        job("smoke", **{ARGO_HOOK: "PostSync"}),
        job("notify", **{ARGO_HOOK: "SyncFail"}),
    ]
    prunes = [
        phases.Prune(ObjectKey("", "ConfigMap", "shop", "old-a"), wave=-1),
        phases.Prune(ObjectKey("", "ConfigMap", "shop", "old-b"), wave=2),
        phases.Prune(ObjectKey("", "ConfigMap", "shop", "old-c"), last=True),
    ]
    steps = [s.id for s in phases.plan(resources, hook_objs, prunes)]
    assert steps == [
        "PreSync/apply/0",
        "Sync/apply/-1",
        "Sync/apply/0",
        "Sync/apply/1",
        "Sync/prune/2",
        "Sync/prune/-1",
        "Sync/prune-last/0",
        "PostSync/apply/0",
    ]
    assert [s.id for s in phases.fail_plan(hook_objs)] == ["SyncFail/apply/0"]
    first = [s.id for s in phases.plan(resources, [], prunes[:1], prune_first=True)]
    assert first[0] == "Sync/prune/-1"


def test_members_of_a_step_are_its_phase_and_wave() -> None:
    resources = [obj("ConfigMap", "db", **{ARGO_WAVE: "-1"}), obj("ConfigMap", "app")]
    hook_objs = [job("sync-hook", **{ARGO_HOOK: "Sync", ARGO_WAVE: "-1"})]
    step = phases.Step("Sync", phases.APPLY, -1)
    assert [key_of(o).name for o in phases.members(step, resources)] == ["db"]
    assert [key_of(o).name for o in phases.members(step, hook_objs)] == ["sync-hook"]


def test_an_app_without_waves_or_hooks_does_not_wait_between_apply_and_prune() -> None:
    steps = phases.plan(
        [obj("ConfigMap", "a")], [], [phases.Prune(ObjectKey("", "ConfigMap", "shop", "x"))]
    )
    assert not phases.must_wait(steps, 0, has_hooks=False)
    assert not phases.must_wait(steps, 1, has_hooks=False)
    waved = phases.plan([obj("ConfigMap", "a"), obj("ConfigMap", "b", **{ARGO_WAVE: "1"})], [], [])
    assert phases.must_wait(waved, 0, has_hooks=False)
    assert not phases.must_wait(waved, 1, has_hooks=False)


def test_prune_false_keeps_the_object_out_of_the_prune_list() -> None:
    labels = {LABEL[0]: LABEL[1]}
    keep = obj("ConfigMap", "keep", **{"argocd.argoproj.io/sync-options": "Prune=false"})
    gone = obj("ConfigMap", "gone")
    for o in (keep, gone):
        o["metadata"]["labels"] = labels
        o["metadata"]["uid"] = "uid-" + o["metadata"]["name"]
    result = plan.plan_sync(
        [],
        out_of_sync=None,
        inventory=[plan.inventory_id(key_of(keep)), plan.inventory_id(key_of(gone))],
        live={key_of(keep): keep, key_of(gone): gone},
        prune=True,
        allow_empty=True,
        app_label=LABEL,
    )
    assert result.prune == [key_of(gone)]
    assert result.skipped_prune == [key_of(keep)]


def failed_job_with_pod() -> tuple[dict[str, Any], dict[str, Any]]:
    failed = job("migrate", **{ARGO_HOOK: "PreSync"})
    failed["metadata"] |= {"uid": "job-uid", "labels": {LABEL[0]: LABEL[1]}}
    failed["status"] = {
        "failed": 1,
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }
        ],
    }
    pod = obj("Pod", "migrate-x1")
    pod["metadata"] |= {
        "uid": "pod-uid",
        "ownerReferences": [{"kind": "Job", "name": "migrate", "uid": "job-uid"}],
    }
    pod["status"] = {
        "phase": "Failed",
        "containerStatuses": [
            {
                "name": "migrate",
                "state": {
                    "terminated": {
                        "exitCode": 3,
                        "reason": "Error",
                        "message": "applying 0042_add_ledger\nERROR: relation exists",
                    }
                },
            }
        ],
    }
    return failed, pod


def test_a_failed_hook_is_explained_by_the_pods_exit_code_and_log_tail() -> None:
    failed, pod = failed_job_with_pod()
    assert hooks.outcome(assess(failed)) == hooks.FAILED
    detail = hooks.failure_detail(failed, [pod])
    assert "BackoffLimitExceeded" in detail
    assert "container migrate exited with code 3 (Error)" in detail
    assert "ERROR: relation exists" in detail


def test_hooks_show_in_the_tree_but_not_in_the_apps_health() -> None:
    failed, pod = failed_job_with_pod()
    app_obj = obj("ConfigMap", "settings")
    app_obj["metadata"] |= {"uid": "cm-uid", "labels": {LABEL[0]: LABEL[1]}}
    tree = build_tree([app_obj], [app_obj, failed, pod], app_name="shop", namespace="shop")
    hook_nodes = tree.by_role(HOOK)
    assert [n.key.name for n in hook_nodes] == ["migrate"]
    assert hook_nodes[0].note == "PreSync hook"
    assert [n.key.name for n in tree.children(hook_nodes[0].id)] == ["migrate-x1"]
    assert str(tree.health()[0]) == "Healthy"


def test_explain_names_a_failed_hook_its_exit_code_and_log_tail() -> None:
    failed, pod = failed_job_with_pod()
    tree = build_tree([], [failed, pod], app_name="shop", namespace="shop")
    found = diagnosis.diagnose("shop", HealthStatus.HEALTHY, tree, now=datetime.now(UTC))
    text = found.to_text()
    assert "PreSync hook Job migrate BackoffLimitExceeded" in text
    assert "container migrate exits with code 3 (Error)" in text
    assert "log tail: applying 0042_add_ledger | ERROR: relation exists" in text
