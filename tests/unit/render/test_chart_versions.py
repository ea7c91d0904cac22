"""Chart version constraints resolve as Helm's (Masterminds semver v3) do."""

from __future__ import annotations

import pytest

from tether.engine.versions import ConstraintError, parse_version, resolve

VERSIONS = [
    "0.0.3",
    "0.0.4",
    "0.2.3",
    "0.2.9",
    "0.3.0",
    "1.0.0",
    "1.2.0",
    "1.2.5",
    "1.3.0",
    "1.3.1-rc.1",
    "2.0.0",
    "v2.1.0",
]


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("^1.2", "1.3.0"),
        ("^1.2.3", "1.3.0"),
        ("^0.2.3", "0.2.9"),
        ("^0.0.3", "0.0.3"),
        ("~1.2.0", "1.2.5"),
        ("~1", "1.3.0"),
        ("~>1.2", "1.2.5"),
        (">=1.0 <2.0", "1.3.0"),
        (">= 1.0, < 1.3", "1.2.5"),
        ("1.2.x", "1.2.5"),
        ("1.2.*", "1.2.5"),
        ("1.2", "1.2.5"),
        ("1", "1.3.0"),
        (">1.2", "v2.1.0"),
        ("<=1.2", "1.2.5"),
        ("<1.2", "1.0.0"),
        ("1.0.0 - 1.2", "1.2.5"),
        ("2.0.0 || 1.0.0", "2.0.0"),
        ("!=2.1.0 <3", "2.0.0"),
        ("1.2.0", "1.2.0"),
        ("=1.2.0", "1.2.0"),
        ("*", "v2.1.0"),
        ("", "v2.1.0"),
        ("HEAD", "v2.1.0"),
        ("3.x", None),
    ],
)
def test_constraint_picks_the_highest_matching_version(constraint: str, expected: str) -> None:
    assert resolve(constraint, VERSIONS) == expected


def test_prereleases_only_match_a_constraint_that_names_one() -> None:
    assert resolve("^1.3", VERSIONS) == "1.3.0"
    assert resolve("1.3.1-rc.1", VERSIONS) == "1.3.1-rc.1"
    assert resolve(">=1.3.1-rc.0 <1.4", VERSIONS) == "1.3.1-rc.1"


def test_exact_version_of_a_rollback_is_that_version_only() -> None:
    assert resolve("1.0.0", ["1.0.0", "1.0.1", "1.1.0"]) == "1.0.0"


def test_versions_are_coerced_as_helm_does() -> None:
    assert str(parse_version("v1.2")) == "1.2.0"
    assert parse_version("not-a-version") is None


@pytest.mark.parametrize("bad", [">>1", "1.2.3.4", "abc", "^", "1 ||"])
def test_malformed_constraints_are_refused(bad: str) -> None:
    with pytest.raises(ConstraintError):
        resolve(bad, VERSIONS)
