"""Health rules Tether ships for the operators people run, as data.

One YAML file per API group (``<group>.yaml``), or per family of groups
(``crossplane.yaml``: every provider's ``*.crossplane.io`` and
``*.upbound.io`` managed resources), in the same CEL format as the
``tether-health-rules`` ConfigMap, so a user can copy one, change it and load
it to override ours: user rules (CEL or Argo CD Lua) come first, these next,
the generic conventions last. The files are package data; each is compiled
on first use by an object of its group, so a cluster that runs no Strimzi
never compiles the Strimzi rules.
"""

import fnmatch
import functools
from collections.abc import Sequence
from importlib import resources

import yaml

from tether.engine.health.rules import HealthRules, load_rules
from tether.engine.health.status import HealthResult
from tether.engine.objects import Obj, group_of


@functools.cache
def rule_files() -> tuple[str, ...]:
    folder = resources.files(__name__)
    return tuple(sorted(p.name for p in folder.iterdir() if p.name.endswith(".yaml")))


def family_files() -> tuple[str, ...]:
    """Files named after a family, not a group (a group name always holds a dot)."""
    return tuple(name for name in rule_files() if "." not in name.removesuffix(".yaml"))


@functools.cache
def patterns_in(name: str) -> tuple[tuple[str, str], ...]:
    """The (group, kind) patterns a file covers, read without compiling its CEL."""
    doc = yaml.safe_load(resources.files(__name__).joinpath(name).read_text()) or []
    return tuple(
        (str(entry.get("group") or ""), str(entry.get("kind") or ""))
        for entry in doc
        if isinstance(entry, dict)
    )


def may_cover(name: str, group: str, kind: str) -> bool:
    return any(
        fnmatch.fnmatchcase(group, g) and fnmatch.fnmatchcase(kind, k) for g, k in patterns_in(name)
    )


@functools.cache
def rules_in(name: str) -> HealthRules:
    text = resources.files(__name__).joinpath(name).read_text()
    return load_rules(text, f"built-in rules {name}")


def evaluate_builtin(obj: Obj, children: Sequence[Obj] = ()) -> HealthResult | None:
    """The shipped rules' answer for ``obj``, or None when none of them covers it."""
    group = group_of(str(obj.get("apiVersion", "")))
    candidates = [f"{group}.yaml"] if f"{group}.yaml" in rule_files() else []
    # A family file is compiled only for an object it may cover: compiling loads the CEL
    # runtime (about 10 MiB), which a cluster of core kinds and common CRDs never needs.
    families = [n for n in family_files() if may_cover(n, group, str(obj.get("kind", "")))]
    for name in [*candidates, *families]:
        rules = rules_in(name)
        if rules.covers(group, str(obj.get("kind", ""))):
            return rules.evaluate(obj, children)
    return None


@functools.cache
def builtin_rules() -> HealthRules:
    """Every shipped rule set at once; a kind defined twice across files is a packaging error."""
    merged = HealthRules()
    for name in rule_files():
        loaded = rules_in(name)
        twice = set(loaded.by_kind) & set(merged.by_kind)
        if twice:
            raise ValueError(f"built-in rules {name} redefine {sorted(twice)}")
        merged = merged.merged(loaded)
    return merged
