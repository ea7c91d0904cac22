"""Health rules Tether ships for the operators people run, as data.

One YAML file per API group (or family of groups, such as Crossplane's
providers), in the same CEL format as the ``tether-health-rules`` ConfigMap,
so a user can copy one, change it and load it to override ours: user rules
(CEL or Argo CD Lua) come first, these next, the generic conventions last.
The files are package data, compiled once on first use.
"""

import functools
from importlib import resources

from tether.engine.health.rules import HealthRules, load_rules


def rule_files() -> list[str]:
    folder = resources.files(__name__)
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".yaml"))


@functools.cache
def builtin_rules() -> HealthRules:
    """Every shipped rule set; a kind defined twice across files is a packaging error."""
    merged = HealthRules()
    folder = resources.files(__name__)
    for name in rule_files():
        loaded = load_rules(folder.joinpath(name).read_text(), f"built-in rules {name}")
        twice = set(loaded.by_kind) & set(merged.by_kind)
        if twice:
            raise ValueError(f"built-in rules {name} redefine {sorted(twice)}")
        merged = merged.merged(loaded)
    return merged
