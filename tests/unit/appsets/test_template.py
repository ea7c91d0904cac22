"""The template renderer: the Go-template subset ApplicationSet users write, and nothing else."""

from __future__ import annotations

import pytest

from tether.engine.appsets.template import TemplateError, render_flat, render_go, render_tree

PARAMS = {
    "name": "Alpha",
    "path": {"path": "apps/alpha", "basename": "alpha", "segments": ["apps", "alpha"]},
    "metadata": {"labels": {"env": "prod", "team.io/owner": "ops"}},
    "replicas": 3,
}


def test_field_chains_render() -> None:
    assert render_go("{{.path.basename}}-{{ .name }}", PARAMS) == "alpha-Alpha"
    assert render_go("n={{.replicas}}", PARAMS) == "n=3"


def test_index_reads_map_keys_with_dots_and_list_items() -> None:
    assert render_go('{{ index .metadata.labels "team.io/owner" }}', PARAMS) == "ops"
    assert render_go("{{ index .path.segments 0 }}", PARAMS) == "apps"


def test_index_of_a_missing_map_key_is_empty_as_in_go() -> None:
    assert render_go('[{{ index .metadata.labels "region" }}]', PARAMS) == "[]"
    assert render_go('{{ index .metadata.labels "region" | default "eu" }}', PARAMS) == "eu"


def test_index_past_a_missing_key_or_a_list_end_is_still_an_error() -> None:
    with pytest.raises(TemplateError, match="cannot index a str"):
        render_go('{{ index .metadata "annotations" "owner" }}', PARAMS)
    with pytest.raises(TemplateError, match="out of range"):
        render_go("{{ index .path.segments 5 }}", PARAMS)


def test_pipelines_and_functions() -> None:
    assert render_go("{{ .name | lower }}", PARAMS) == "alpha"
    assert render_go('{{ .name | lower | replace "a" "o" }}', PARAMS) == "olpho"
    assert render_go('{{ printf "%s-%d" .path.basename .replicas }}', PARAMS) == "alpha-3"
    assert render_go('{{ default "x" .name }}', PARAMS) == "Alpha"
    assert render_go("{{ trunc 3 .name }}", PARAMS) == "Alp"
    assert render_go("{{ .name | normalize }}", {"name": "My_App"}) == "my-app"


def test_string_literals_keep_unicode_and_understand_escapes() -> None:
    assert (
        render_go('{{ default "café\\t\\"x\\"" .missing_ok }}', {"missing_ok": ""}) == 'café\t"x"'
    )


def test_trim_markers_remove_surrounding_whitespace() -> None:
    assert render_go("a  {{- .name -}}  b", PARAMS) == "aAlphab"


def test_a_missing_key_is_an_error_that_names_it() -> None:
    with pytest.raises(TemplateError, match=r"no entry for key 'basname'.*known: basename"):
        render_go("{{.path.basname}}", PARAMS)


def test_control_actions_and_unknown_functions_are_refused() -> None:
    with pytest.raises(TemplateError, match="'if' actions are not supported"):
        render_go("{{ if .name }}x{{ end }}", PARAMS)
    with pytest.raises(TemplateError, match="function 'sha256sum' is not supported"):
        render_go("{{ sha256sum .name }}", PARAMS)
    with pytest.raises(TemplateError, match="not supported"):
        render_go("{{ $x := .name }}", PARAMS)


def test_a_map_is_not_rendered_as_text() -> None:
    with pytest.raises(TemplateError, match="is a map"):
        render_go("{{.path}}", PARAMS)


def test_flat_templates_read_flat_keys() -> None:
    flat = {"path": "apps/a", "path.basename": "a"}
    assert render_flat("{{path.basename}} in {{ path }}", flat) == "a in apps/a"
    with pytest.raises(TemplateError, match=r"unknown parameter 'path.filename'"):
        render_flat("{{path.filename}}", flat)


def test_tree_rendering_names_the_field_of_an_error() -> None:
    tree = {"spec": {"source": {"path": "{{.path.nope}}"}, "list": ["{{.name}}"]}}
    assert render_tree({"a": ["{{.name}}"]}, PARAMS, go=True, where="t") == {"a": ["Alpha"]}
    with pytest.raises(TemplateError, match=r"^spec.template.spec.source.path: "):
        render_tree(tree, PARAMS, go=True, where="spec.template")
