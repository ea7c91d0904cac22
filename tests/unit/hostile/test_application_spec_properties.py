"""The Application spec parser on hostile input: any JSON is either a spec every later step
can use or one SpecError naming the field, never another exception."""

from __future__ import annotations

from typing import Any

import pytest
from hostile_inputs import FAST, json_values, k8s_values
from hypothesis import given
from hypothesis import strategies as st

from tether.engine import application as appmodel

SPEC_KEYS = st.sampled_from(
    [
        "source",
        "destination",
        "syncPolicy",
        "ignoreDifferences",
        "revisionHistoryLimit",
        "project",
        "dependsOn",
        "repoURL",
        "path",
        "targetRevision",
        "namespace",
        "server",
        "automated",
        "prune",
        "selfHeal",
        "syncOptions",
        "retry",
        "limit",
        "backoff",
        "duration",
        "factor",
        "maxDuration",
        "directory",
        "helm",
        "kustomize",
        "jsonPointers",
        "kind",
        "group",
    ]
)
durations = st.one_of(
    st.sampled_from(["5s", "3m", "1h", "", "s", "5", "-1s", "1e400s", "nan", "inf", "soon", "5x"]),
    st.text(max_size=6),
)


def spec_like() -> st.SearchStrategy[Any]:
    leaves = st.one_of(k8s_values(8), durations, st.integers(-(10**30), 10**30))
    return st.recursive(
        leaves,
        lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(SPEC_KEYS, c, max_size=6)),
        max_leaves=30,
    )


@st.composite
def near_valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec with hostile values in the places users get wrong."""
    return {
        "source": {"repoURL": "https://git.example.com/r.git", "path": draw(st.text(max_size=8))},
        "destination": {"namespace": "prod"},
        "syncPolicy": {
            "automated": {"prune": True},
            "retry": {
                "limit": draw(st.integers(-5, 10**4)),
                "backoff": {
                    "duration": draw(durations),
                    "factor": draw(st.integers(-5, 10**400)),
                    "maxDuration": draw(durations),
                },
            },
        },
        "revisionHistoryLimit": draw(st.integers(-5, 200)),
    }


def _usable_or_spec_error(spec: Any) -> None:
    try:
        parsed = appmodel.parse_spec(spec)
    except appmodel.SpecError as exc:
        assert str(exc).startswith("spec"), exc
        return
    # Everything a sync does with the spec must work on a spec that parsed.
    retry = parsed.sync_policy.retry
    if retry is not None:
        cap = appmodel.duration_seconds(retry.backoff.max_duration)
        for attempt in range(1, max(1, retry.limit) + 1):
            assert 0 <= retry.delay(attempt) <= cap
    appmodel.new_application("a", "tether", parsed)


@FAST
@given(st.one_of(json_values(), spec_like()))
def test_any_json_is_a_usable_spec_or_a_spec_error(spec: Any) -> None:
    _usable_or_spec_error(spec)


@FAST
@given(near_valid_specs())
def test_retry_backoff_that_parses_can_be_used(spec: dict[str, Any]) -> None:
    _usable_or_spec_error(spec)


@pytest.mark.parametrize(
    "backoff",
    [
        {"duration": "soon"},
        {"maxDuration": "5x"},
        {"duration": "-1s"},
        {"duration": "nan"},
        {"factor": 10**400},
        {"factor": -2},
    ],
)
def test_a_retry_backoff_the_sync_cannot_use_is_refused_naming_the_field(
    backoff: dict[str, Any],
) -> None:
    spec = {
        "source": {"repoURL": "https://git.example.com/r.git"},
        "destination": {"namespace": "prod"},
        "syncPolicy": {"retry": {"limit": 3, "backoff": backoff}},
    }
    with pytest.raises(appmodel.SpecError, match=r"spec\.syncPolicy\.retry\.backoff\."):
        appmodel.parse_spec(spec)


def test_the_retry_delay_after_many_failures_is_the_cap_not_an_overflow() -> None:
    """factor ** attempts overflowed a float after about a thousand failed syncs."""
    spec = {
        "source": {"repoURL": "https://git.example.com/r.git"},
        "destination": {"namespace": "prod"},
        "syncPolicy": {"retry": {"limit": 5000, "backoff": {"factor": 10}}},
    }
    retry = appmodel.parse_spec(spec).sync_policy.retry
    assert retry is not None
    assert [retry.delay(n) for n in (1, 2, 3)] == [5.0, 50.0, 180.0]
    assert retry.delay(4000) == 180.0
