"""The manifest parser on hostile input: any bytes give objects or one RenderError naming
the file, never another exception, and never unbounded work."""

from __future__ import annotations

import json

import pytest
from hostile_inputs import FAST, json_values, yaml_text
from hypothesis import given
from hypothesis import strategies as st

from tether.adapters.render import RenderError
from tether.adapters.render.manifests import objects_from_file, parse_documents

FILE = "apps/x/manifest.yaml"


def _parse_or_render_error(data: bytes | str, file: str) -> None:
    try:
        objects = objects_from_file(data, file)
    except RenderError as exc:
        assert exc.file == file, exc
        assert str(exc).startswith(file), exc
        return
    for obj in objects:
        assert isinstance(obj, dict) and obj["apiVersion"] and obj["kind"]
        assert isinstance(obj["metadata"]["name"], str) and obj["metadata"]["name"]


@FAST
@given(st.binary(max_size=400))
def test_any_bytes_as_yaml_parse_or_fail_with_a_render_error(data: bytes) -> None:
    _parse_or_render_error(data, FILE)


@FAST
@given(st.binary(max_size=400))
def test_any_bytes_as_json_parse_or_fail_with_a_render_error(data: bytes) -> None:
    _parse_or_render_error(data, "apps/x/manifest.json")


@FAST
@given(yaml_text())
def test_mutated_yaml_parses_or_fails_with_a_render_error(text: str) -> None:
    _parse_or_render_error(text, FILE)
    _parse_or_render_error(text.encode("utf-8", "surrogatepass"), FILE)


@FAST
@given(json_values())
def test_any_json_value_parses_or_fails_with_a_render_error(value: object) -> None:
    _parse_or_render_error(json.dumps(value), "apps/x/manifest.json")


# Characters YAML 1.1 allows in a document (no C0/C1 controls, no surrogates).
printable = st.text(
    st.characters(max_codepoint=0xFFFF, exclude_categories=("Cc", "Cs", "Co", "Cn")), max_size=12
)
plain_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), printable),
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(printable, c, max_size=3)),
    max_leaves=15,
)


@FAST
@given(plain_values)
def test_a_valid_document_round_trips_unchanged(value: object) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": value}
    text = json.dumps(obj)
    assert parse_documents(text, "apps/x/m.json") == [(1, 1, obj)]
    assert [d for _, _, d in parse_documents(text, FILE)] == [obj]


def test_a_key_written_twice_is_refused_naming_both_lines() -> None:
    """The last value used to win silently: a second ``image:`` deployed unseen."""
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n"
    with pytest.raises(RenderError, match=r"m\.yaml:5: .*'name' already defined at line 4"):
        objects_from_file(text, "m.yaml")
    with pytest.raises(RenderError, match="'a' already defined at line 1"):
        objects_from_file("{a: 1, a: 2}", "m.yaml")


def test_merge_keys_and_equal_keys_in_different_mappings_are_not_duplicates() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {name: x}}\n"
        "base: &b {k: 1}\ndata:\n  <<: *b\n  j: '2'\n"
    )
    assert objects_from_file(text, "m.yaml")[0]["data"] == {"k": 1, "j": "2"}


def test_a_control_character_is_named_with_its_line_and_column() -> None:
    """It used to be reported as 'invalid YAML: ReaderError', with no place."""
    with pytest.raises(RenderError, match=r"m\.yaml:2: .*control characters.*#x0001.*column 4"):
        objects_from_file(b"a: b\nc: \x01\n", "m.yaml")


def test_invalid_utf8_names_the_line_and_byte() -> None:
    with pytest.raises(RenderError, match=r"m\.yaml:3: not UTF-8 text \(byte 0xff"):
        objects_from_file(b"a: b\nc: d\ne: \xff\n", "m.yaml")


def test_a_json_manifest_may_start_with_a_byte_order_mark_as_yaml_may() -> None:
    body = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}'
    for file in ("m.json", "m.yaml"):
        assert objects_from_file(b"\xef\xbb\xbf" + body, file)[0]["metadata"]["name"] == "a"


def test_crlf_line_ends_parse_like_lf() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n"
    assert objects_from_file(text.replace("\n", "\r\n"), "m.yaml") == objects_from_file(
        text, "m.yaml"
    )
