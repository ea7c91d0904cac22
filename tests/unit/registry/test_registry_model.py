"""The RegistryCredential spec, timing rules and status, without any I/O."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from tether.engine.registry.spec import (
    RegistryCredentialSpec,
    backoff_delay,
    dockerconfigjson,
    format_duration,
    host_of_image,
    namespace_selected,
    next_refresh,
    parse_duration,
    parse_image,
    registry_matches,
    should_warn,
)
from tether.engine.registry.status import (
    CredentialStatus,
    aggregate_status,
    record_failure,
    record_refresh,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
CRD = Path(__file__).parents[3] / "src/tether/engine/crds/registrycredential.yaml"


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "registry": ECR_HOST,
        "provider": {"type": "ecr"},
        "secretName": "ecr-pull",
        "namespaces": {"names": ["finance"]},
    }
    return {**base, **overrides}


# ------------------------------------------------------------ spec validation


def test_spec_parses_camel_case_with_defaults() -> None:
    parsed = RegistryCredentialSpec.model_validate(
        spec(serviceAccounts=["default"], refresh={"minInterval": "90s"}, warnBefore="1h30m")
    )
    assert parsed.secret_name == "ecr-pull"
    assert parsed.service_accounts == ["default"]
    assert parsed.refresh.fraction == 0.5
    assert parsed.refresh.min_interval == timedelta(seconds=90)
    assert parsed.warn_before == timedelta(hours=1, minutes=30)
    assert parsed.ecr_region() == "eu-west-1"
    dumped = parsed.model_dump(by_alias=True, exclude_none=True)
    assert dumped["warnBefore"] == "1h30m"
    assert dumped["refresh"]["minInterval"] == "1m30s"


@pytest.mark.parametrize(
    ("registry", "why"),
    [
        ("https://ghcr.io", "scheme"),
        ("ghcr..io", "label"),
        ("registry.example.com:99999", "port"),
        ("bad_host.example.com", "label"),
        ("", "empty"),
    ],
)
def test_invalid_registry_pattern_is_rejected_naming_the_field(registry: str, why: str) -> None:
    with pytest.raises(ValidationError) as info:
        RegistryCredentialSpec.model_validate(spec(registry=registry))
    error = info.value.errors()[0]
    assert error["loc"] == ("registry",)
    assert "registry" in error["msg"] and why in error["msg"]


def test_glob_ecr_pattern_is_valid_and_region_comes_from_each_host() -> None:
    parsed = RegistryCredentialSpec.model_validate(spec(registry="*.dkr.ecr.*.amazonaws.com"))
    assert parsed.ecr_region() is None
    assert parsed.ecr_region("999999999999.dkr.ecr.us-east-2.amazonaws.com") == "us-east-2"


def test_ecr_provider_for_a_non_ecr_host_needs_an_explicit_region() -> None:
    with pytest.raises(ValidationError, match=r"provider.ecr.region is required"):
        RegistryCredentialSpec.model_validate(spec(registry="registry.internal:5000"))
    ok = spec(registry="ecr.vpce.internal", provider={"type": "ecr", "ecr": {"region": "x-1"}})
    assert RegistryCredentialSpec.model_validate(ok).ecr_region() == "x-1"


def test_provider_block_must_match_its_type() -> None:
    with pytest.raises(ValidationError, match=r"provider.basic is missing"):
        RegistryCredentialSpec.model_validate(spec(provider={"type": "basic"}))
    extra = {"type": "ecr", "exec": {"command": "/bin/plugin"}}
    with pytest.raises(ValidationError, match=r"remove provider.exec"):
        RegistryCredentialSpec.model_validate(spec(provider=extra))


def test_spec_needs_some_namespace_source() -> None:
    with pytest.raises(ValidationError, match="namespaces"):
        RegistryCredentialSpec.model_validate(spec(namespaces={}))


def test_exec_provider_with_a_pattern_needs_the_image_to_ask_about() -> None:
    provider = {"type": "exec", "exec": {"command": "/bin/p"}}
    with pytest.raises(ValidationError, match="registryHost"):
        RegistryCredentialSpec.model_validate(spec(registry="*.example.com", provider=provider))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("12h", timedelta(hours=12)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("12h0m0s", timedelta(hours=12)),
        ("0.5h", timedelta(minutes=30)),
        ("250ms", timedelta(milliseconds=250)),
        ("0", timedelta(0)),
    ],
)
def test_durations_parse_like_go(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "12", "1d", "h1", "1h 30m", "-5s"])
def test_bad_durations_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_duration_formatting_round_trips() -> None:
    for text in ("12h", "1h30m", "45s", "2h0m5s"):
        assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


# ------------------------------------------------------------ hosts and images


@pytest.mark.parametrize(
    ("image", "host", "repository", "reference"),
    [
        ("nginx", "docker.io", "library/nginx", "latest"),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27"),
        ("bitnami/redis:7", "docker.io", "bitnami/redis", "7"),
        ("localhost/app", "localhost", "app", "latest"),
        ("localhost:5000/team/app:v1", "localhost:5000", "team/app", "v1"),
        (f"{ECR_HOST}/finance-api:1.4", ECR_HOST, "finance-api", "1.4"),
        ("ghcr.io/org/app@sha256:abc", "ghcr.io", "org/app", "sha256:abc"),
        ("GHCR.io/org/app:v1@sha256:abc", "ghcr.io", "org/app", "sha256:abc"),
        ("127.0.0.1:5000/finance-api", "127.0.0.1:5000", "finance-api", "latest"),
    ],
)
def test_images_split_into_host_repository_and_reference(
    image: str, host: str, repository: str, reference: str
) -> None:
    ref = parse_image(image)
    assert (ref.host, ref.repository, ref.reference) == (host, repository, reference)
    assert host_of_image(image) == host


@pytest.mark.parametrize(
    ("pattern", "target", "expected"),
    [
        ("*.dkr.ecr.*.amazonaws.com", ECR_HOST, True),
        ("*.dkr.ecr.*.amazonaws.com", "dkr.ecr.eu-west-1.amazonaws.com", False),
        ("*.example.com", "a.b.example.com", False),  # '*' never spans a dot
        ("registry.example.com", "registry.example.com:5000", False),  # ports must agree
        ("registry.example.com:5000", "registry.example.com:5000", True),
        ("ghcr.io/team", "ghcr.io/team/app", True),
        ("ghcr.io/team", "ghcr.io/other/app", False),
        ("REGISTRY.example.com", "registry.EXAMPLE.com", True),
        ("reg?.example.com", "reg1.example.com", True),
    ],
)
def test_registry_patterns_match_like_kubelet(pattern: str, target: str, expected: bool) -> None:
    assert registry_matches(pattern, target) is expected


def test_dockerconfigjson_holds_username_password_and_auth() -> None:
    config = json.loads(dockerconfigjson(ECR_HOST, "AWS", "s3cret"))
    entry = config["auths"][ECR_HOST]
    assert entry["username"] == "AWS" and entry["password"] == "s3cret"
    assert base64.b64decode(entry["auth"]) == b"AWS:s3cret"
    hub = json.loads(dockerconfigjson("docker.io", "u", "p"))
    assert list(hub["auths"]) == ["https://index.docker.io/v1/"]


def test_namespaces_are_selected_by_name_labels_or_applications() -> None:
    ns = RegistryCredentialSpec.model_validate(
        spec(
            namespaces={
                "names": ["finance"],
                "selector": {"matchLabels": {"team": "payments"}},
                "fromApplications": True,
            }
        )
    ).namespaces
    assert namespace_selected(ns, "finance", {}, set())
    assert namespace_selected(ns, "billing", {"team": "payments"}, set())
    assert namespace_selected(ns, "shop", {}, {"shop"})
    assert not namespace_selected(ns, "kube-system", {"team": "platform"}, {"shop"})


# ------------------------------------------------------------ timing


def test_refresh_happens_halfway_through_a_twelve_hour_token() -> None:
    issued = NOW
    assert next_refresh(issued, issued + timedelta(hours=12), 0.5, NOW) == NOW + timedelta(hours=6)


def test_refresh_is_never_sooner_than_min_interval_even_for_expired_tokens() -> None:
    expired = datetime(2015, 1, 1, tzinfo=UTC)  # moto's fixed expiresAt
    when = next_refresh(NOW, expired, 0.5, NOW, min_interval=timedelta(minutes=1))
    assert when == NOW + timedelta(minutes=1)


def test_credentials_without_expiry_are_re_read_every_resync() -> None:
    when = next_refresh(NOW, None, 0.5, NOW, resync=timedelta(minutes=30))
    assert when == NOW + timedelta(minutes=30)


def test_backoff_doubles_from_base_and_is_capped() -> None:
    base, cap = timedelta(seconds=10), timedelta(minutes=5)
    top = [backoff_delay(n, base, cap, 0.999999).total_seconds() for n in range(1, 8)]
    assert [round(t) for t in top] == [10, 20, 40, 80, 160, 300, 300]
    assert backoff_delay(0, base, cap, 0.5) == timedelta(0)


def test_backoff_jitter_spreads_retries_between_half_and_full_delay() -> None:
    base, cap = timedelta(seconds=10), timedelta(minutes=5)
    low = backoff_delay(3, base, cap, 0.0)
    high = backoff_delay(3, base, cap, 0.99)
    assert low == timedelta(seconds=20)
    assert timedelta(seconds=39) < high < timedelta(seconds=40)


def test_no_warning_while_refresh_is_healthy_even_close_to_expiry() -> None:
    assert not should_warn(NOW + timedelta(minutes=10), NOW, timedelta(hours=1), None)


def test_warning_when_refresh_fails_inside_the_warn_window() -> None:
    assert should_warn(NOW + timedelta(minutes=59), NOW, timedelta(hours=1), "AccessDenied")
    assert not should_warn(NOW + timedelta(hours=3), NOW, timedelta(hours=1), "AccessDenied")


def test_warning_once_expired_regardless_of_errors() -> None:
    assert should_warn(NOW - timedelta(seconds=1), NOW, timedelta(hours=1), None)
    assert not should_warn(None, NOW, timedelta(hours=1), "x")


# ------------------------------------------------------------ status


def test_status_after_refresh_is_ready_and_records_expiry() -> None:
    status = record_refresh(
        CredentialStatus(namespace="finance", secret_name="ecr-pull"),
        NOW,
        NOW + timedelta(hours=12),
    )
    ready = status.conditions[0]
    assert (ready.type, ready.status, ready.reason) == ("Ready", "True", "Refreshed")
    assert status.expires_at == NOW + timedelta(hours=12)


def test_failed_refresh_keeps_ready_until_expiry_and_redacts_secrets() -> None:
    ok = record_refresh(
        CredentialStatus(namespace="finance", secret_name="s"), NOW, NOW + timedelta(hours=1)
    )
    later = NOW + timedelta(minutes=10)
    failing = record_failure(ok, later, "login with hunter2-token failed", ["hunter2-token"])
    assert failing.last_error == "login with <redacted> failed"
    assert failing.last_error_since == later
    assert failing.conditions[0].reason == "RefreshFailing"
    assert failing.conditions[0].last_transition_time == NOW  # still True: unchanged
    expired = record_failure(failing, NOW + timedelta(hours=2), "again", [])
    assert expired.conditions[0].status == "False" and expired.conditions[0].reason == "Expired"
    assert expired.last_error_since == later
    assert "hunter2" not in expired.model_dump_json()


def test_aggregate_status_reports_earliest_expiry_and_not_ready_namespaces() -> None:
    a = record_refresh(CredentialStatus(namespace="a", secret_name="s"), NOW, NOW + timedelta(1))
    b = record_failure(CredentialStatus(namespace="b", secret_name="s"), NOW, "denied", [])
    total = aggregate_status([b, a], "ecr", 3, NOW)
    assert total.expires_at == NOW + timedelta(1)
    assert total.conditions[0].status == "False"
    assert total.conditions[0].message == "not ready in: b"
    assert [s.namespace for s in total.namespaces] == ["a", "b"]


def test_status_serialises_to_the_crd_field_names() -> None:
    status = record_refresh(CredentialStatus(namespace="a", secret_name="s"), NOW, NOW)
    doc = aggregate_status([status], "ecr", 1, NOW).model_dump(mode="json", by_alias=True)
    crd = yaml.safe_load(CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert set(doc) <= set(schema["properties"])
    item = schema["properties"]["namespaces"]["items"]["properties"]
    assert set(doc["namespaces"][0]) <= set(item)


def test_crd_spec_schema_covers_every_model_field() -> None:
    crd = yaml.safe_load(CRD.read_text())
    assert crd["spec"]["group"] == "tether.dev" and crd["spec"]["scope"] == "Cluster"
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Registry", "Provider", "Expires"} <= columns
    props = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]

    def aliases(model: type[Any]) -> set[str]:
        return {f.alias or name for name, f in model.model_fields.items()}

    assert aliases(RegistryCredentialSpec) == set(props)
    provider = props["provider"]["properties"]
    from tether.engine.registry import spec as r

    assert aliases(r.EcrProvider) == set(provider["ecr"]["properties"])
    assert aliases(r.ExecProvider) == set(provider["exec"]["properties"])
    assert aliases(r.Refresh) == set(props["refresh"]["properties"])
    assert aliases(r.Namespaces) == set(props["namespaces"]["properties"])
