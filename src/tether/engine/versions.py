"""Version constraints as Helm reads them (Masterminds semver v3).

Helm's ``--version``, Argo CD's ``targetRevision`` for charts and Flux's
ImagePolicy ``semver.range`` all accept these ranges, and users copy them from
Helm docs, so Tether follows the same rules (for charts and image tags alike)
rather than Python's PEP 440 or npm's:

* clauses separated by spaces or commas must all hold; ``||`` separates
  alternatives;
* operators ``=``, ``!=``, ``>``, ``<``, ``>=``, ``<=`` (``=>``/``=<`` too),
  ``~`` (``~>``) and ``^``; hyphen ranges ``1.2 - 1.4.5``;
* wildcards ``1.2.x``, ``1.2.*``, ``*``; a partial version is a wildcard, so
  ``1.2`` is ``>=1.2.0 <1.3.0``, ``>1.2`` is ``>=1.3.0`` and ``<=1.2`` is
  ``<1.3.0``;
* ``~1.2.3`` is ``>=1.2.3 <1.3.0``, ``~1`` is ``>=1.0.0 <2.0.0``; ``^1.2.3`` is
  ``>=1.2.3 <2.0.0``, ``^0.2.3`` is ``>=0.2.3 <0.3.0``, ``^0.0.3`` is
  ``>=0.0.3 <0.0.4``;
* a pre-release version (``1.3.0-rc.1``) matches only an alternative that
  names a pre-release in one of its clauses, so ``^1.2`` never picks a
  release candidate while ``>=1.3.0-0 <1.4`` may.

Versions themselves are parsed by the ``semver`` package after Helm's
coercion (a leading ``v`` and missing minor/patch parts are allowed).
Resolution picks the highest version that satisfies the constraint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import semver

_CLAUSE = re.compile(r"^(?P<op>!=|>=|=>|<=|=<|~>|[=<>~^])?\s*v?(?P<ver>[0-9xX*][^\s]*)$")
_LOOSE = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)
LATEST = {"", "*", "x", "X", "HEAD", "latest"}


class ConstraintError(ValueError):
    """A constraint Helm would not accept either; the message quotes it."""


def parse_version(text: str) -> semver.Version | None:
    """A chart version as Helm coerces it (``v1.2`` -> 1.2.0), or None if it is not one."""
    match = _LOOSE.match(text.strip())
    if not match:
        return None
    return semver.Version(
        int(match["major"]),
        int(match["minor"] or 0),
        int(match["patch"] or 0),
        match["pre"],
        match["build"],
    )


@dataclass(frozen=True)
class _Partial:
    """A version in a clause; ``None`` parts were left out or written as a wildcard."""

    major: int | None
    minor: int | None
    patch: int | None
    pre: str | None

    @property
    def floor(self) -> semver.Version:
        return semver.Version(self.major or 0, self.minor or 0, self.patch or 0, self.pre)

    def bump(self) -> semver.Version:
        """The first version above the wildcard range (1.2.x -> 1.3.0, 1.x -> 2.0.0)."""
        if self.major is None:
            raise ConstraintError("'*' has no upper bound")
        if self.minor is None:
            return semver.Version(self.major + 1, 0, 0)
        if self.patch is None:
            return semver.Version(self.major, self.minor + 1, 0)
        return semver.Version(self.major, self.minor, self.patch + 1)

    @property
    def dirty(self) -> bool:
        return self.minor is None or self.patch is None


def _part(text: str | None) -> int | None:
    if text is None or text in ("x", "X", "*"):
        return None
    return int(text)


def _partial(text: str, clause: str) -> _Partial:
    match = re.match(
        r"^(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
        r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$",
        text,
    )
    if not match:
        raise ConstraintError(f"'{clause}' is not a version constraint")
    major, minor, patch = _part(match["major"]), _part(match["minor"]), _part(match["patch"])
    if major is None:
        minor = patch = None
    elif minor is None:
        patch = None
    return _Partial(major, minor, patch, match["pre"])


Check = Callable[[semver.Version], bool]


def _range(low: semver.Version | None, high: semver.Version | None, *, incl_high: bool) -> Check:
    def check(v: semver.Version) -> bool:
        if low is not None and v < low:
            return False
        if high is None:
            return True
        return v <= high if incl_high else v < high

    return check


def _clause(text: str) -> tuple[Check, bool]:
    """(check, whether the clause names a pre-release) for one clause."""
    match = _CLAUSE.match(text)
    if not match:
        raise ConstraintError(f"'{text}' is not a version constraint")
    op, p = match["op"] or "=", _partial(match["ver"], text)
    floor = p.floor
    pre = p.pre is not None
    if p.major is None:
        return (lambda v: True), pre
    if op in ("=", "!="):
        if p.dirty:
            inside = _range(floor, p.bump(), incl_high=False)
        else:

            def inside(v: semver.Version) -> bool:
                return v.compare(floor) == 0

        return (inside if op == "=" else (lambda v: not inside(v))), pre
    if op == ">":
        return (_range(p.bump(), None, incl_high=False) if p.dirty else (lambda v: v > floor)), pre
    if op in (">=", "=>"):
        return _range(floor, None, incl_high=False), pre
    if op == "<":
        return (lambda v: v < floor), pre
    if op in ("<=", "=<"):
        if p.dirty:
            return _range(None, p.bump(), incl_high=False), pre
        return (lambda v: v <= floor), pre
    if op in ("~", "~>"):
        upper = (
            semver.Version(p.major + 1, 0, 0)
            if p.minor is None
            else semver.Version(p.major, p.minor + 1, 0)
        )
        return _range(floor, upper, incl_high=False), pre
    # "^": the left-most non-zero part may not change.
    if p.major > 0 or p.minor is None:
        upper = semver.Version(p.major + 1, 0, 0)
    elif p.minor > 0 or p.patch is None:
        upper = semver.Version(0, p.minor + 1, 0)
    else:
        upper = semver.Version(0, 0, (p.patch or 0) + 1)
    return _range(floor, upper, incl_high=False), pre


def _tokens(group: str) -> list[str]:
    """Clauses of one ``||`` alternative: ``>= 1.2, < 2`` -> [">=1.2", "<2"]."""
    group = re.sub(r"(!=|>=|=>|<=|=<|~>|[=<>~^])\s+", r"\1", group.strip())
    return [t for t in re.split(r"[\s,]+", group) if t]


def _group(group: str) -> list[tuple[Check, bool]]:
    hyphen = re.match(r"^\s*(\S+)\s+-\s+(\S+)\s*$", group)
    if hyphen:
        low, high = hyphen.groups()
        return [_clause(f">={low}"), _clause(f"<={high}")]
    return [_clause(token) for token in _tokens(group)]


@dataclass(frozen=True)
class Constraint:
    text: str
    groups: tuple[tuple[tuple[Check, bool], ...], ...]

    def allows(self, version: semver.Version) -> bool:
        for group in self.groups:
            if version.prerelease and not any(pre for _, pre in group):
                continue
            if all(check(version) for check, _ in group):
                return True
        return False


def parse_constraint(text: str) -> Constraint:
    """The constraint in ``text``; ``""``, ``HEAD``, ``latest`` and ``*`` mean any release."""
    stripped = text.strip()
    if stripped in LATEST:
        stripped = "*"
    groups = tuple(tuple(_group(g)) for g in stripped.split("||"))
    if not all(groups):
        raise ConstraintError(f"'{text}' is not a version constraint")
    return Constraint(text, groups)


def resolve(constraint: str, versions: Iterable[str]) -> str | None:
    """The highest of ``versions`` (as written) that ``constraint`` allows, or None."""
    parsed = parse_constraint(constraint)
    best: tuple[semver.Version, str] | None = None
    for text in versions:
        version = parse_version(text)
        if version is None or not parsed.allows(version):
            continue
        if best is None or version > best[0]:
            best = (version, text)
    return best[1] if best else None
