"""What `tether upgrade` renders with: the install's values, the image moved to this version."""

from __future__ import annotations

from tether.controller.upgrade import Rollout, image_for_version, upgrade_values


def test_a_version_tag_moves_to_this_version() -> None:
    assert image_for_version("reg.example:5000/ops/tether:0.0.9", "0.1.0") == (
        "reg.example:5000/ops/tether:0.1.0"
    )
    assert image_for_version("tether:v0.0.9-rc.1", "0.1.0") == "tether:0.1.0"


def test_other_references_are_kept() -> None:
    for ref in (
        "reg.example/tether@sha256:" + "a" * 64,
        "reg.example/tether:main-abc123",
        "reg.example:5000/tether",
    ):
        assert image_for_version(ref, "0.1.0") == ref


def test_stored_values_are_kept_and_sets_merged_over_them() -> None:
    stored = {
        "image": {"ref": "r/tether:0.0.9"},
        "replicas": 3,
        "podAnnotations": {"team": "ops"},
        "defaultProject": {"create": False},
    }
    values = upgrade_values(stored, "0.1.0", overrides={"podAnnotations.rev": "2"})
    assert values == {
        "image": {"ref": "r/tether:0.1.0"},
        "replicas": 3,
        "podAnnotations": {"team": "ops", "rev": "2"},
        "defaultProject": {"create": False},
    }
    assert stored["image"] == {"ref": "r/tether:0.0.9"}  # not changed in place
    assert upgrade_values(stored, "0.1.0", image="x/t:1")["image"] == {"ref": "x/t:1"}


def test_a_rollout_is_done_only_when_no_old_pod_is_left() -> None:
    def deploy(**status: int) -> dict[str, object]:
        return {"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": status}

    rolling = deploy(observedGeneration=2, updatedReplicas=2, availableReplicas=2, replicas=3)
    assert not Rollout.of(rolling).done
    stale = deploy(observedGeneration=1, updatedReplicas=2, availableReplicas=2, replicas=2)
    assert not Rollout.of(stale).done
    done = deploy(observedGeneration=2, updatedReplicas=2, availableReplicas=2, replicas=2)
    assert Rollout.of(done).done
    assert Rollout.of(rolling).line() == "2 of 2 updated, 2 available, 1 old"


def test_values_files_merge_as_helm_merges_them_keys_with_dots_included() -> None:
    from tether.controller.upgrade import merge_values

    stored = {"nodeSelector": {"a": "1"}, "controller": {"pollSeconds": 60, "workers": 8}}
    files = {"nodeSelector": {"tether.dev/real-node": "true"}, "controller": {"pollSeconds": 3}}
    assert upgrade_values(stored, "0.1.0", files=files) == {
        "nodeSelector": {"a": "1", "tether.dev/real-node": "true"},
        "controller": {"pollSeconds": 3, "workers": 8},
    }
    assert merge_values({"a": {"b": 1}}, {"a": 2}) == {"a": 2}
