"""Which tag a policy wants: filter the listed tags, order them, take the newest.

Orderings, as Flux and Argo CD Image Updater name them:

* ``semver``: tags that parse as a version (a leading ``v`` and missing
  minor/patch allowed) and satisfy the range; the highest wins.
* ``numerical``: tags (or extracted parts) that are numbers; ``asc`` takes the
  largest, ``desc`` the smallest.
* ``alphabetical``: plain string order; ``asc`` takes the last (date-stamped
  tags such as ``2024-05-01.1``), ``desc`` the first.
* ``pushTime``: the newest tag by the registry's push time where it keeps one
  (ECR), else by the image's build time (the config's ``created``, what Argo
  CD Image Updater's ``newest-build`` uses); a tag with neither is ignored.

A filter keeps tags matching ``pattern`` and, with ``extract`` (``$1``,
``$name``, ``${name}``), orders by the captured text instead of the whole tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from tether.engine import versions
from tether.engine.images.spec import FilterTags, Ordering


@dataclass(frozen=True)
class Tag:
    name: str
    pushed_at: datetime | None = None  # when the registry received it (ECR only)
    digest: str = ""
    created: datetime | None = None  # when the image was built (its config's ``created``)

    @property
    def time(self) -> datetime | None:
        """What ``pushTime`` orders by: the push time if known, else the build time."""
        return self.pushed_at or self.created


@dataclass(frozen=True)
class Choice:
    """The chosen tag, or None with ``reason`` saying why nothing was chosen."""

    tag: Tag | None
    candidates: int
    reason: str = ""


def extract(tag: str, pattern: re.Pattern[str], template: str) -> str | None:
    """The text ``template`` names from ``tag`` matched by ``pattern``; None if no match."""
    match = pattern.search(tag)
    if match is None:
        return None
    if not template:
        return tag
    try:
        return match.expand(re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", template))
    except (IndexError, re.error):
        return None


# The OCI distribution spec's tag grammar; a registry that answers anything else
# (a broken or hostile one) does not get its text written into Git.
VALID_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


def filtered(tags: Iterable[Tag], flt: FilterTags | None) -> list[tuple[str, Tag]]:
    """(sort key text, tag) for every valid tag the filter keeps."""
    tags = [t for t in tags if VALID_TAG.match(t.name)]
    if flt is None:
        return [(t.name, t) for t in tags]
    pattern = re.compile(flt.pattern)
    out = []
    for tag in tags:
        key = extract(tag.name, pattern, flt.extract)
        if key is not None:
            out.append((key, tag))
    return out


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def choose(tags: Iterable[Tag], flt: FilterTags | None, ordering: Ordering) -> Choice:
    """The newest tag the policy allows."""
    kept = filtered(tags, flt)
    if not kept:
        return Choice(None, 0, "no tag matches the filter")
    kind = ordering.kind
    if kind == "semver":
        assert ordering.semver is not None
        constraint = versions.parse_constraint(ordering.semver.range)
        ranked = []
        for key, tag in kept:
            version = versions.parse_version(key)
            if version is not None and constraint.allows(version):
                ranked.append((version, tag.name, tag))
        if not ranked:
            return Choice(None, 0, f"no tag is a version in range {ordering.semver.range!r}")
        best = max(ranked, key=lambda v: (v[0], v[1]))
        return Choice(best[2], len(ranked))
    if kind == "numerical":
        assert ordering.numerical is not None
        numbers = [(n, tag.name, tag) for key, tag in kept if (n := _number(key)) is not None]
        if not numbers:
            return Choice(None, 0, "no tag is a number")
        pick = max if ordering.numerical.order == "asc" else min
        return Choice(pick(numbers, key=lambda v: (v[0], v[1]))[2], len(numbers))
    if kind == "alphabetical":
        assert ordering.alphabetical is not None
        pick_a = max if ordering.alphabetical.order == "asc" else min
        return Choice(pick_a(kept, key=lambda v: (v[0], v[1].name))[1], len(kept))
    timed = [(when, t.name, t) for _, t in kept if (when := t.time) is not None]
    if not timed:
        return Choice(None, 0, "no push times or build times are known for these tags")
    return Choice(max(timed, key=lambda v: (v[0], v[1]))[2], len(timed))


def render_message(template: str, values: Mapping[str, str]) -> str:
    """``{name}`` placeholders only (no attribute access, unlike ``str.format``)."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)
