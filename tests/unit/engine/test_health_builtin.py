"""The health rules Tether ships for common operators, proved on objects we wrote.

Fixtures live in ``fixtures/health/builtin/<group>/<kind>.yaml``: a list of
cases, each an object written from the operator's documented status, the
expected health and why. Every shipped kind needs at least one Healthy, one
Progressing and one Degraded or Suspended case, every non-healthy answer
names its reason in its message, and docs/health.md lists every kind.
"""

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.engine.health import HealthStatus, assess, load_rules
from tether.engine.health.builtin import builtin_rules
from tether.engine.objects import group_of, parse_time

FIXTURES = Path(__file__).parent / "fixtures" / "health" / "builtin"
DOCS = Path(__file__).parents[3] / "docs" / "health.md"


def all_cases() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(FIXTURES.glob("*/*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for case in doc["cases"]:
            found.append((f"{path.parent.name}/{path.stem}/{case['name']}", case))
    return found


CASES = all_cases()


def judged(case: dict[str, Any]) -> Any:
    return assess(case["object"], case.get("children") or [], now=parse_time(case.get("now")))


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_builtin_rule_gives_the_fixture_health(case: dict[str, Any]) -> None:
    assert case.get("why"), "every fixture says why"
    result = judged(case)
    expect = case["expect"]
    assert result.status == HealthStatus(expect["status"]), result
    if "reason" in expect:
        assert result.reason == expect["reason"], result
    if "message_contains" in expect:
        assert expect["message_contains"] in result.message, result
    if result.status is not HealthStatus.HEALTHY:
        assert result.reason and result.reason in result.message, "the message names its reason"


def kind_of(obj: dict[str, Any]) -> tuple[str, str]:
    return group_of(str(obj["apiVersion"])), str(obj["kind"])


def test_every_builtin_kind_has_healthy_progressing_and_failing_fixtures() -> None:
    rules = builtin_rules()
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for _, case in CASES:
        group, kind = kind_of(case["object"])
        check = rules.check_for(group, kind)
        for pattern, candidate in rules.by_kind.items():
            if candidate is check:
                seen[pattern].add(case["expect"]["status"])
    missing = {}
    for pattern in rules.by_kind:
        states = seen[pattern]
        if not (
            "Healthy" in states and "Progressing" in states and states & {"Degraded", "Suspended"}
        ):
            missing[pattern] = sorted(states)
    assert not missing, f"kinds without Healthy/Progressing/Degraded fixtures: {missing}"


def test_docs_table_lists_every_builtin_kind() -> None:
    text = DOCS.read_text()
    absent = [
        f"{group}/{kind}"
        for group, kind in builtin_rules().by_kind
        if f"| `{group}` | {kind} |" not in text
    ]
    assert not absent, f"docs/health.md does not list {absent}"


def test_user_rules_override_builtin_rules_for_the_same_kind() -> None:
    certificate = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "web", "namespace": "shop"},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]},
    }
    assert assess(certificate).status is HealthStatus.HEALTHY
    mine = load_rules(
        "- {group: cert-manager.io, kind: Certificate, rules: [{when: 'true', status: Suspended}]}"
    )
    assert assess(certificate, rules=mine).status is HealthStatus.SUSPENDED


def test_builtin_rules_load_once_and_cover_the_named_groups() -> None:
    groups = {group for group, _ in builtin_rules().by_kind}
    assert builtin_rules() is builtin_rules()
    assert {"cert-manager.io", "acme.cert-manager.io"} <= groups


def test_a_group_file_holds_only_its_group_so_lazy_loading_finds_it() -> None:
    from tether.engine.health.builtin import family_files, rule_files, rules_in

    for name in rule_files():
        if name in family_files():
            continue
        groups = {group for group, _ in rules_in(name).by_kind}
        assert groups == {name.removesuffix(".yaml")}, name
