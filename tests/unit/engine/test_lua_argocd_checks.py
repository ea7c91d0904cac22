"""Argo CD health checks from argocd-cm keys decide health, in the documented order."""

import pytest

from tether.engine.health import HealthRuleError, HealthStatus, assess, load_rules
from tether.engine.health.lua import LuaLimits, load_argocd_health

SOURCE = "ConfigMap tether-health-rules"

# Written for this test in the style of Argo CD's documented examples.
CERTIFICATE_LUA = """
hs = {}
if obj.status ~= nil then
  if obj.status.conditions ~= nil then
    for i, condition in ipairs(obj.status.conditions) do
      if condition.type == "Ready" and condition.status == "False" then
        hs.status = "Degraded"
        hs.message = condition.message
        return hs
      end
      if condition.type == "Ready" and condition.status == "True" then
        hs.status = "Healthy"
        hs.message = condition.message
        return hs
      end
    end
  end
end
hs.status = "Progressing"
hs.message = "Waiting for certificate"
return hs
"""


def certificate(ready: str) -> dict[str, object]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "web", "namespace": "shop"},
        "status": {"conditions": [{"type": "Ready", "status": ready, "message": f"ready={ready}"}]},
    }


def test_single_key_names_group_and_kind_and_beats_the_builtin_rule() -> None:
    rules = load_argocd_health(
        {"resource.customizations.health.cert-manager.io_Certificate": CERTIFICATE_LUA}, SOURCE
    )
    assert rules.covers("cert-manager.io", "Certificate")
    result = assess(certificate("False"), rules=rules)
    assert (result.status, result.message) == (HealthStatus.DEGRADED, "ready=False")
    shipped = assess({**certificate("False"), "status": {}}, rules=rules)
    assert shipped.status is HealthStatus.PROGRESSING
    assert shipped.message == "Waiting for certificate"


def test_block_form_with_wildcards_and_core_kinds() -> None:
    block = """
"*.crossplane.io/*":
  health.lua: |
    return {status = "Suspended", message = "held by Lua"}
  health.lua.useOpenLibs: true
Service:
  health.lua: |
    return {status = "Degraded", message = "no services today"}
apps/Deployment:
  ignoreDifferences: |
    jsonPointers: [/spec/replicas]
"""
    rules = load_argocd_health({"resource.customizations": block}, SOURCE)
    bucket = {"apiVersion": "s3.aws.crossplane.io/v1beta1", "kind": "Bucket", "metadata": {}}
    assert assess(bucket, rules=rules).status is HealthStatus.SUSPENDED
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {}, "spec": {}}
    assert assess(service, rules=rules).message == "no services today"
    assert not rules.covers("apps", "Deployment"), "keys without health.lua are not health checks"


def test_script_that_does_not_compile_is_refused_naming_the_key() -> None:
    key = "resource.customizations.health.acme.io_Widget"
    with pytest.raises(HealthRuleError) as info:
        load_argocd_health({key: "hs = {"}, SOURCE)
    assert f"{SOURCE} key {key}: Lua does not compile" in str(info.value)


def test_unknown_status_gives_unknown_naming_the_allowed_ones() -> None:
    rules = load_argocd_health(
        {"resource.customizations.health.acme.io_Widget": "return {status = 'Great'}"}, SOURCE
    )
    failures = rules.failures
    result = assess({"apiVersion": "acme.io/v1", "kind": "Widget", "metadata": {}}, rules=rules)
    assert result.status is HealthStatus.UNKNOWN
    assert result.reason == "HealthRuleError"
    assert "returned status 'Great'; use one of Healthy" in result.message
    assert list(failures) == [f"{SOURCE} key resource.customizations.health.acme.io_Widget"]


def test_runaway_script_is_reported_once_then_skipped_until_reloaded() -> None:
    key = "resource.customizations.health.acme.io_Widget"
    rules = load_argocd_health({key: "while true do end"}, SOURCE, LuaLimits(instructions=10**5))
    widget = {"apiVersion": "acme.io/v1", "kind": "Widget", "metadata": {}}
    first = assess(widget, rules=rules)
    assert first.status is HealthStatus.UNKNOWN
    assert "instruction limit exceeded" in first.message
    assert "skipped until the ConfigMap changes" in rules.failures[f"{SOURCE} key {key}"]
    started_again = assess(widget, rules=rules)
    assert "disabled" in started_again.message


def test_a_later_key_overrides_an_earlier_one_whatever_its_language() -> None:
    cel = load_rules("- {group: acme.io, kind: Widget, rules: [{when: 'true', status: Degraded}]}")
    lua_rules = load_argocd_health(
        {"resource.customizations.health.acme.io_Widget": "return {status='Suspended'}"}, SOURCE
    )
    widget = {"apiVersion": "acme.io/v1", "kind": "Widget", "metadata": {}}
    assert assess(widget, rules=cel.merged(lua_rules)).status is HealthStatus.SUSPENDED
    assert assess(widget, rules=lua_rules.merged(cel)).status is HealthStatus.DEGRADED


def test_other_argocd_cm_keys_are_ignored() -> None:
    rules = load_argocd_health(
        {"url": "https://argocd.example.com", "resource.customizations.actions.x_Y": "..."}, SOURCE
    )
    assert rules.by_kind == {}


def test_every_resource_customizations_key_is_argo_cds_not_cel() -> None:
    from tether.engine.health.lua import is_argocd_key

    assert is_argocd_key("resource.customizations")
    assert is_argocd_key("resource.customizations.health.acme.io_Widget")
    assert is_argocd_key("resource.customizations.ignoreDifferences.apps_Deployment")
    assert not is_argocd_key("widgets.yaml")
