"""Bad input fails the whole render with an error naming the file, line, document or field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tether.adapters.render import RenderError, render

CM = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"


def test_invalid_yaml_names_file_and_line() -> None:
    bad = (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: [a\n password: hunter2\n"
    )
    with pytest.raises(RenderError) as info:
        render({"app/ok.yaml": CM, "app/bad.yaml": bad}, {"path": "app"})
    err = info.value
    assert err.file == "app/bad.yaml" and err.line is not None and err.line >= 5
    assert str(err).startswith(f"app/bad.yaml:{err.line}: invalid YAML")
    assert "hunter2" not in str(err)


def test_invalid_json_names_file_and_line() -> None:
    with pytest.raises(RenderError) as info:
        render({"a.json": b'{\n  "kind": "ConfigMap",\n  oops\n}'}, {"path": ""})
    assert (info.value.file, info.value.line) == ("a.json", 3)


@pytest.mark.parametrize(
    ("doc", "missing"),
    [
        (b"kind: ConfigMap\nmetadata:\n  name: x\n", "has no apiVersion"),
        (b"apiVersion: v1\nmetadata:\n  name: x\n", "has no kind"),
        (b"apiVersion: v1\nkind: ConfigMap\n", "has no metadata"),
        (b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {}\n", "has no metadata.name"),
        (b"- just\n- a list\n", "is not a mapping"),
    ],
)
def test_incomplete_document_names_file_and_index(doc: bytes, missing: str) -> None:
    text = CM + b"---\n" + doc
    with pytest.raises(RenderError, match=f"document 2.*{missing}") as info:
        render({"app/objs.yaml": text}, {"path": "app"})
    assert info.value.file == "app/objs.yaml" and info.value.line == 6


def test_list_item_without_name_names_the_item() -> None:
    doc = (
        b"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {}\n"
    )
    with pytest.raises(RenderError, match="document 1, item 1"):
        render({"l.yaml": doc}, {"path": ""})


def test_duplicate_objects_name_both_files() -> None:
    with pytest.raises(
        RenderError, match=r"duplicate object ConfigMap/x in app/a.yaml and app/b.yaml"
    ):
        render({"app/a.yaml": CM, "app/b.yaml": CM}, {"path": "app"})
    same_name_other_kind = CM.replace(b"ConfigMap", b"Secret")
    assert len(render({"a.yaml": CM, "b.yaml": same_name_other_kind}, {"path": ""})) == 2


def test_missing_path_and_escaping_path() -> None:
    with pytest.raises(RenderError, match="path 'apps/nope' not found"):
        render({"apps/web/a.yaml": CM}, {"path": "apps/nope"})
    with pytest.raises(RenderError, match=r"path '\.\./etc' escapes the repository"):
        render({"a.yaml": CM}, {"path": "../etc"})


def test_symlink_escaping_a_checked_out_directory(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "cm.yaml").write_bytes(CM)
    os.symlink("/etc/passwd", tmp_path / "app" / "passwd.yaml")
    with pytest.raises(RenderError, match=r"symlink 'app/passwd\.yaml' -> '/etc/passwd' escapes"):
        render(tmp_path, {"path": "app"})


def test_symlink_inside_a_checked_out_directory(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "cm.yaml").write_bytes(CM)
    (tmp_path / "app").mkdir()
    os.symlink("../shared/cm.yaml", tmp_path / "app" / "cm.yaml")
    assert render(tmp_path, {"path": "app"})[0]["metadata"]["name"] == "x"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"directory": {"recurse": "yes"}}, "source.directory.recurse"),
        ({"kustomize": {"images": "nginx:1"}}, "source.kustomize.images"),
        ({"helm": {"parameters": [{"value": "1"}]}}, r"source.helm.parameters\[1\]"),
        ({"helm": {}, "kustomize": {}}, "choose one"),
    ],
)
def test_bad_options_name_the_field(spec: dict, field: str) -> None:
    with pytest.raises(RenderError, match=field):
        render({"a.yaml": CM}, spec)
