"""Custom health rules written as CEL data: loading, errors and evaluation."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.engine.health import HealthRuleError, HealthStatus, assess, load_rules

FIXTURES = Path(__file__).parent / "fixtures" / "health_rules"
RULE_SETS = sorted(FIXTURES.glob("*.yaml"))
ERRORS = sorted((FIXTURES / "errors").glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def cases() -> list[Any]:
    found = []
    for path in RULE_SETS:
        doc = load(path)
        for case in doc["cases"]:
            found.append(pytest.param(doc["rules"], case, id=f"{path.stem}/{case['name']}"))
    return found


@pytest.mark.parametrize(("rules_text", "case"), cases())
def test_rule_set_gives_expected_health(rules_text: str, case: dict[str, Any]) -> None:
    rules = load_rules(rules_text, source=f"fixture {case['name']}")
    result = assess(case["object"], case.get("children") or [], rules=rules)
    expect = case["expect"]
    assert result.status == HealthStatus(expect["status"]), result
    if "reason" in expect:
        assert result.reason == expect["reason"], result
    if "message_contains" in expect:
        assert expect["message_contains"] in result.message, result


@pytest.mark.parametrize("path", ERRORS, ids=[p.stem for p in ERRORS])
def test_bad_rule_set_is_refused_naming_rule_and_field(path: Path) -> None:
    doc = load(path)
    with pytest.raises(HealthRuleError) as info:
        load_rules(doc["rules"], source="configmap tether-health/rules.yaml")
    message = str(info.value)
    assert message.startswith("configmap tether-health/rules.yaml")
    for fragment in doc["error_contains"]:
        assert fragment in message


def test_rule_that_fails_at_runtime_gives_unknown_naming_the_rule() -> None:
    rules = load_rules(
        """
- group: acme.io
  kind: Widget
  rules:
    - when: "object.spec.size > 'large'"
      status: Degraded
""",
        source="widgets",
    )
    obj = {"apiVersion": "acme.io/v1", "kind": "Widget", "spec": {"size": 3}}
    result = assess(obj, rules=rules)
    assert result.status is HealthStatus.UNKNOWN
    assert "widgets: acme.io/Widget rule 0 failed" in result.message


def test_rule_whose_when_is_not_boolean_gives_unknown() -> None:
    rules = load_rules("- {kind: Widget, rules: [{when: \"'yes'\", status: Healthy}]}")
    result = assess({"apiVersion": "v1", "kind": "Widget"}, rules=rules)
    assert result.status is HealthStatus.UNKNOWN
    assert "not a bool" in result.message


def test_failing_message_expression_keeps_the_status() -> None:
    rules = load_rules(
        "- {kind: Widget, rules: [{when: 'true', status: Degraded, message: 'object.nope'}]}"
    )
    result = assess({"apiVersion": "v1", "kind": "Widget"}, rules=rules)
    assert result.status is HealthStatus.DEGRADED
    assert "message of" in result.message


def test_rules_for_other_kinds_leave_built_in_health_alone() -> None:
    rules = load_rules(
        "- {group: acme.io, kind: Widget, rules: [{when: 'true', status: Degraded}]}"
    )
    svc = {"apiVersion": "v1", "kind": "Service", "spec": {"type": "ClusterIP"}}
    assert assess(svc, rules=rules).status is HealthStatus.HEALTHY


def test_later_rule_sets_override_earlier_ones_per_kind() -> None:
    first = load_rules("- {kind: Widget, rules: [{when: 'true', status: Degraded}]}")
    second = load_rules("- {kind: Widget, rules: [{when: 'true', status: Suspended}]}")
    merged = first.merged(second)
    assert merged.covers("", "Widget")
    result = assess({"apiVersion": "v1", "kind": "Widget"}, rules=merged)
    assert result.status is HealthStatus.SUSPENDED


def test_empty_rule_set_is_allowed() -> None:
    assert load_rules("").by_kind == {}


SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db", "namespace": "shop"},
    "data": {"password": "aHVudGVyMg=="},
    "stringData": {"token": "s3cr3t-token"},
}


def test_a_rule_cannot_copy_a_secret_value_into_a_health_message() -> None:
    rules = load_rules(
        """
- kind: Secret
  rules:
    - when: "has(object.data.password)"
      status: Degraded
      message: "object.data.password + ' ' + object.stringData.token"
"""
    )
    result = assess(SECRET, rules=rules)
    assert result.status is HealthStatus.DEGRADED, "keys stay visible to rules"
    assert "aHVudGVyMg==" not in result.message
    assert "s3cr3t-token" not in result.message


def test_a_rule_cannot_read_an_owned_secret_through_children() -> None:
    rules = load_rules(
        "- {kind: Widget, rules: [{when: 'true', status: Degraded,"
        " message: 'children[0].data.password'}]}"
    )
    result = assess({"apiVersion": "v1", "kind": "Widget"}, children=[SECRET], rules=rules)
    assert "aHVudGVyMg==" not in result.message


def test_a_lua_script_cannot_copy_a_secret_value_into_a_health_message() -> None:
    from tether.engine.health.lua import load_argocd_health

    rules = load_argocd_health(
        {
            "resource.customizations.health.Secret": (
                "return {status = 'Degraded', message = obj.data.password .. obj.stringData.token}"
            )
        },
        "ConfigMap tether-health-rules",
    )
    result = assess(SECRET, rules=rules)
    assert result.status is HealthStatus.DEGRADED
    assert "aHVudGVyMg==" not in result.message
    assert "s3cr3t-token" not in result.message
