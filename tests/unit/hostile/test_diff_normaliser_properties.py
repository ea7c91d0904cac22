"""The diff normaliser on hostile input: any object and any ignoreDifferences rule (a user
writes the JSON pointers) compare without an exception, and comparing is consistent."""

from __future__ import annotations

import copy
from typing import Any

from hostile_inputs import FAST, k8s_objects, k8s_values, keys
from hypothesis import given
from hypothesis import strategies as st

from tether.engine import diff
from tether.engine.objects import key_of

pointer_tokens = st.one_of(
    keys,
    st.sampled_from(["0", "1", "00", "-1", "²", "\u0661", "9" * 30, "~0", "~1", "", "-"]),
)
pointers = st.lists(pointer_tokens, max_size=5).map(lambda parts: "/" + "/".join(parts))


def fields_v1(value: Any) -> Any:
    """A managedFields set naming every field of ``value`` (``f:`` keys, ``k:`` list items)."""
    if isinstance(value, dict):
        return {"f:" + str(k): fields_v1(v) for k, v in value.items()} | {".": {}}
    if isinstance(value, list):
        return {f'k:{{"name":"{i}"}}': {".": {}} for i in range(len(value))}
    return {}


def paths(value: Any, prefix: str = "") -> list[str]:
    """Every JSON pointer into ``value``."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, f"{prefix}/{diff.pointer_token(k)}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, f"{prefix}/{i}")
    return out


@st.composite
def rules(draw: st.DrawFn, obj: dict[str, Any], live: dict[str, Any]) -> list[diff.IgnoreRule]:
    """Rules whose pointers often lead into the object, then take a hostile last step."""
    key = key_of(obj)
    inside = st.builds(
        lambda base, tail: base + tail,
        st.sampled_from(paths(obj) + paths(live)),
        st.one_of(st.just(""), pointer_tokens.map(lambda t: "/" + t)),
    )
    any_pointer = st.one_of(inside, pointers, st.text(max_size=20))
    out = []
    for _ in range(draw(st.integers(0, 3))):
        out.append(
            diff.IgnoreRule(
                key.group,
                key.kind,
                draw(st.sampled_from(["", key.name])),
                json_pointers=tuple(draw(st.lists(any_pointer, max_size=4))),
                managed_fields_managers=tuple(
                    draw(st.lists(st.sampled_from(["hpa", "x"]), max_size=2))
                ),
            )
        )
    return out


@st.composite
def pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], list[diff.IgnoreRule]]:
    desired = draw(k8s_objects())
    live = copy.deepcopy(desired)
    if draw(st.booleans()):
        live["spec"] = draw(st.dictionaries(keys, k8s_values(), max_size=4))
    if draw(st.booleans()):
        live.setdefault("spec", {})["containers"] = draw(st.lists(k8s_values(5), max_size=3))
    live["metadata"]["managedFields"] = [
        {"manager": "hpa", "operation": "Update", "fieldsV1": fields_v1(live.get("spec") or {})}
    ]
    return desired, live, draw(rules(desired, live))


@FAST
@given(pairs())
def test_compare_never_raises_and_an_object_equals_itself(
    case: tuple[dict[str, Any], dict[str, Any], list[diff.IgnoreRule]],
) -> None:
    desired, live, ignore = case
    before = copy.deepcopy((desired, live))
    result = diff.compare(desired, live, ignore)
    assert result.status in ("Synced", "OutOfSync")
    assert diff.compare(desired, copy.deepcopy(desired), ignore).status == "Synced"
    assert (desired, live) == before, "compare changed its input"
    result.text()


@FAST
@given(pairs())
def test_keep_live_fields_never_raises(
    case: tuple[dict[str, Any], dict[str, Any], list[diff.IgnoreRule]],
) -> None:
    desired, live, ignore = case  # the ignores themselves: through compare, above
    kept = diff.keep_live_fields(desired, live, ignore)
    assert kept["metadata"]["name"] == desired["metadata"]["name"]


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@FAST
@given(k8s_objects(), k8s_objects())
def test_changed_paths_are_empty_exactly_when_the_normalised_objects_are_equal(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    na, nb = diff.normalise(a), diff.normalise(b)
    paths = diff.changed_paths(na, nb)
    if na == nb:
        assert paths == []
    if not paths:  # a field set to null reads as absent, as for the API server
        assert _without_nulls(na) == _without_nulls(nb)
    assert diff.normalise(na) == na
    diff.mask_secret(a)


@FAST
@given(
    st.lists(k8s_values(5), min_size=1, max_size=3),
    st.lists(pointer_tokens, min_size=1, max_size=2),
)
def test_any_pointer_step_into_a_list_is_ignored_or_followed(
    items: list[Any], tail: list[str]
) -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"containers": items},
    }
    pointer = "/spec/containers/" + "/".join(tail)
    rule = [diff.IgnoreRule("apps", "Deployment", json_pointers=(pointer,))]
    assert diff.compare(obj, copy.deepcopy(obj), rule).status == "Synced"
    diff.keep_live_fields(obj, obj, rule)


def test_a_pointer_with_a_digit_that_is_not_an_index_is_not_an_error() -> None:
    """'²' is a digit to str.isdigit but no int: it names no list item (and crashed)."""
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "spec": {"c": [1]}}
    rule = [diff.IgnoreRule("", "ConfigMap", json_pointers=("/spec/c/²", "/spec/c/²/x"))]
    assert diff.compare(obj, copy.deepcopy(obj), rule).status == "Synced"
    assert diff.keep_live_fields(obj, obj, rule) == obj
