"""Size limits: a small file cannot make a render expensive.

The alias bomb is the 521-byte "billion laughs" of the security review: nine
levels of nine aliases, 9^9 nodes once expanded. It must fail fast, naming the
file and the limit, without PyYAML ever expanding it.
"""

from __future__ import annotations

import time

import pytest

from tether.adapters.render import RenderError, limits, render
from tether.adapters.render.manifests import parse_documents

LOLS = ", ".join(['"lol"'] * 9)
BOMB = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: laughs\ndata:\n"
    f"  a: &a [{LOLS}]\n"
    + "".join(
        f"  {name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
)


def test_the_alias_bomb_is_refused_fast_naming_file_and_limit() -> None:
    assert len(BOMB.encode()) <= 521
    started = time.monotonic()
    with pytest.raises(RenderError) as info:
        render({"app/bomb.yaml": BOMB.encode()}, {"path": "app"})
    assert time.monotonic() - started < 0.5
    assert info.value.file == "app/bomb.yaml"
    assert f"too many nodes (limit {limits.MAX_YAML_NODES}" in str(info.value)


def test_too_many_aliases_are_refused() -> None:
    text = "a: &x 1\nb: [" + ", ".join(["*x"] * (limits.MAX_YAML_ALIASES + 1)) + "]\n"
    with pytest.raises(RenderError, match=f"too many aliases \\(limit {limits.MAX_YAML_ALIASES}"):
        parse_documents(text, "aliases.yaml")


def test_deep_nesting_is_refused() -> None:
    depth = limits.MAX_YAML_DEPTH + 5
    with pytest.raises(RenderError, match=f"nested too deeply \\(limit {limits.MAX_YAML_DEPTH}"):
        parse_documents("a: " + "[" * depth + "]" * depth + "\n", "deep.yaml")


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(RenderError, match="refers to itself") as info:
        parse_documents("a: &a [*a]\n", "loop.yaml")
    assert info.value.file == "loop.yaml"


def test_a_file_over_the_byte_limit_is_refused_unread() -> None:
    big = b"# " + b"x" * limits.MAX_FILE_BYTES + b"\n"
    with pytest.raises(RenderError, match=f"over the limit of {limits.MAX_FILE_BYTES} bytes") as i:
        render({"app/big.yaml": big}, {"path": "app"})
    assert i.value.file == "app/big.yaml"


def test_too_many_objects_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_RENDERED_OBJECTS", 3)
    docs = "".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n" for i in range(4)
    )
    with pytest.raises(RenderError, match="4 objects, over the limit of 3"):
        render({"app/many.yaml": docs.encode()}, {"path": "app"})


def test_total_rendered_bytes_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_RENDERED_BYTES", 100)
    doc = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %d\n" + b"#" * 60 + b"\n"
    files = {f"app/{i}.yaml": doc % i for i in range(2)}
    with pytest.raises(RenderError, match="over the limit of 100 bytes"):
        render(files, {"path": "app"})


def test_anchors_and_merge_keys_within_limits_still_work() -> None:
    docs = parse_documents("x: &x {a: 1}\ny: *x\nz: {<<: *x, b: 2}\n", "ok.yaml")
    assert docs[0][2] == {"x": {"a": 1}, "y": {"a": 1}, "z": {"a": 1, "b": 2}}
