"""Marker edits on plain text: only the value changes, comments and order stay."""

from __future__ import annotations

import pytest

from tether.engine.images.markers import (
    MarkerError,
    Target,
    plan_helm,
    plan_kustomize,
    plan_markers,
    unified_diff,
)

TARGET = Target("tether", "api", "registry.example.com/team/api", "1.5.0")

DEPLOYMENT = """\
# The API: keep this comment.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api   # trailing comment
spec:
  template:
    spec:
      containers:
        - name: api
          image: registry.example.com/team/api:1.4.0 # {"$imagepolicy": "tether:api"}
          env:
            - name: VERSION
              value: "1.4.0" # {"$imagepolicy": "tether:api:tag"}
            - name: OTHER
              value: "1.4.0" # {"$imagepolicy": "tether:other:tag"}
        - name: sidecar
          image: 'registry.example.com/team/api' # {"$imagepolicy": "tether:api:name"}
"""


def test_setter_markers_change_only_the_values_they_mark() -> None:
    [edit] = plan_markers({"deploy.yaml": DEPLOYMENT}, TARGET)
    expected = DEPLOYMENT.replace("team/api:1.4.0 # {", "team/api:1.5.0 # {").replace(
        'value: "1.4.0" # {"$imagepolicy": "tether:api:tag"}',
        'value: "1.5.0" # {"$imagepolicy": "tether:api:tag"}',
    )
    assert edit.after == expected
    assert [c.line for c in edit.changes] == [11, 14]


def test_a_file_already_at_the_tag_needs_no_edit() -> None:
    target = Target("tether", "api", "registry.example.com/team/api", "1.4.0")
    assert plan_markers({"deploy.yaml": DEPLOYMENT}, target) == []


def test_markers_of_other_policies_and_non_yaml_files_are_left_alone() -> None:
    other = Target("team-b", "api", "registry.example.com/team/api", "9.9.9")
    assert plan_markers({"deploy.yaml": DEPLOYMENT, "README.md": DEPLOYMENT}, other) == []


def test_digest_pinning_writes_image_tag_and_digest() -> None:
    target = Target("tether", "api", "registry.example.com/team/api", "1.5.0", "sha256:ab", True)
    [edit] = plan_markers({"deploy.yaml": DEPLOYMENT}, target)
    assert "image: registry.example.com/team/api:1.5.0@sha256:ab # {" in edit.after


def test_a_plain_value_that_would_read_as_a_number_gets_quotes() -> None:
    text = 'tag: v1 # {"$imagepolicy": "tether:api:tag"}\n'
    target = Target("tether", "api", "r.example.com/api", "1.10")
    [edit] = plan_markers({"values.yaml": text}, target)
    assert edit.after == 'tag: "1.10" # {"$imagepolicy": "tether:api:tag"}\n'


def test_multi_document_files_are_edited_in_place() -> None:
    text = 'a: 1\n---\n# doc two\nimage: x/api:1 # {"$imagepolicy": "tether:api"}\nb: 2\n'
    target = Target("tether", "api", "x/api", "2")
    [edit] = plan_markers({"all.yml": text}, target)
    assert edit.after == text.replace("x/api:1 #", "x/api:2 #")


KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml   # the app
images:
  # pinned by automation
  - name: registry.example.com/team/api
    newTag: 1.4.0  # bumped by Tether
  - name: redis
    newTag: "7"
"""


def test_kustomize_images_entry_gets_the_new_tag_and_keeps_comments() -> None:
    edit = plan_kustomize("kustomization.yaml", KUSTOMIZATION, TARGET)
    assert edit is not None
    assert edit.after == KUSTOMIZATION.replace("newTag: 1.4.0  #", "newTag: 1.5.0  #")


def test_kustomize_missing_key_and_missing_entry_are_added() -> None:
    no_tag = KUSTOMIZATION.replace("    newTag: 1.4.0  # bumped by Tether\n", "")
    edit = plan_kustomize("k.yaml", no_tag, TARGET)
    assert edit is not None
    assert (
        "  - name: registry.example.com/team/api\n    newTag: 1.5.0\n  - name: redis" in edit.after
    )
    other = Target("tether", "web", "registry.example.com/team/web", "2.0.0")
    edit = plan_kustomize("k.yaml", KUSTOMIZATION, other)
    assert edit is not None
    assert edit.after.endswith(
        '    newTag: "7"\n  - name: registry.example.com/team/web\n    newTag: 2.0.0\n'
    )


def test_kustomization_without_images_gets_a_section() -> None:
    text = "resources:\n- a.yaml\n"
    edit = plan_kustomize("k.yaml", text, TARGET, name="api")
    assert edit is not None
    assert edit.after == "resources:\n- a.yaml\nimages:\n- name: api\n  newTag: 1.5.0\n"


def test_helm_values_key_is_set() -> None:
    text = "image:\n  repository: registry.example.com/team/api  # repo\n  tag: '1.4.0'\n"
    edit = plan_helm("values.yaml", text, TARGET, "image.tag")
    assert edit is not None
    assert edit.after == text.replace("'1.4.0'", "'1.5.0'")
    with pytest.raises(MarkerError, match=r"image\.version"):
        plan_helm("values.yaml", text, TARGET, "image.version")


def test_dry_run_diff_names_the_file_and_the_lines() -> None:
    edits = plan_markers({"apps/deploy.yaml": DEPLOYMENT}, TARGET)
    diff = unified_diff(edits)
    assert diff.startswith("--- a/apps/deploy.yaml\n+++ b/apps/deploy.yaml\n")
    assert '-          image: registry.example.com/team/api:1.4.0 # {"$imagepolicy"' in diff
    assert '+          image: registry.example.com/team/api:1.5.0 # {"$imagepolicy"' in diff


def test_invalid_yaml_with_a_marker_is_refused_with_the_file_named() -> None:
    with pytest.raises(MarkerError, match=r"broken\.yaml"):
        plan_markers({"broken.yaml": 'a: [\nimage: x # {"$imagepolicy": "tether:api"}\n'}, TARGET)
