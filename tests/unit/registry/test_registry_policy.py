"""The registry policy as plain data: what the administrator's allow-lists admit and refuse."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tether.engine.registry.policy import (
    RegistryPolicy,
    policy_from_configmap,
    refusal_message,
    refusals,
    url_allowed,
)
from tether.engine.registry.spec import RegistryCredentialSpec

NS = "tether"


def spec(provider: dict[str, Any], **overrides: Any) -> RegistryCredentialSpec:
    base: dict[str, Any] = {
        "registry": "registry.example.com",
        "provider": provider,
        "secretName": "pull",
        "namespaces": {"names": ["finance"]},
    }
    return RegistryCredentialSpec.model_validate({**base, **overrides})


def configmap(data: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta = {"name": "tether-registry-policy", "namespace": NS, "labels": labels or {}}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def fields(found: list[Any]) -> list[str]:
    return [r.field for r in found]


EXEC: dict[str, Any] = {"type": "exec", "exec": {"command": "/usr/libexec/ecr-credential-provider"}}
ADMIN = policy_from_configmap(
    configmap(
        {
            "execCommands": "# plugins we ship\n/usr/libexec/ecr-credential-provider\n",
            "execEnv": "AWS_REGION\nPLUGIN_*\n",
            "endpointURLs": "https://ecr.vpce-1.eu-west-1.vpce.amazonaws.com/\n",
            "tokenFiles": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token\n",
        }
    ),
    NS,
)


def test_without_the_configmap_exec_endpoint_and_token_file_are_refused() -> None:
    nothing = policy_from_configmap(None, NS)
    found = refusals(spec(EXEC), nothing, NS)
    assert fields(found) == ["provider.exec.command"]
    assert "ConfigMap tether/tether-registry-policy does not exist" in found[0].rule
    ecr = {
        "type": "ecr",
        "ecr": {
            "region": "eu-west-1",
            "endpointURL": "http://127.0.0.1:9999",
            "roleARN": "arn:aws:iam::123456789012:role/x",
            "webIdentityTokenFile": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        },
    }
    assert fields(refusals(spec(ecr), nothing, NS)) == [
        "provider.ecr.endpointURL",
        "provider.ecr.webIdentityTokenFile",
    ]


def test_plain_ecr_and_basic_in_the_controller_namespace_need_no_policy() -> None:
    nothing = policy_from_configmap(None, NS)
    assert refusals(spec({"type": "ecr", "ecr": {"region": "eu-west-1"}}), nothing, NS) == []
    basic = {"type": "basic", "basic": {"secretRef": {"name": "login"}}}
    assert refusals(spec(basic), nothing, NS) == []
    basic["basic"] = {"secretRef": {"name": "login", "namespace": NS}}
    assert refusals(spec(basic), nothing, NS) == []


def test_allowed_command_runs_and_any_other_path_is_refused() -> None:
    assert refusals(spec(EXEC), ADMIN, NS) == []
    for command in (
        "/tmp/evil.sh",
        "/usr/libexec/../../tmp/evil.sh",
        "/usr/libexec//ecr-credential-provider",
        "ecr-credential-provider",
        "/bin/sh",
    ):
        found = refusals(spec({"type": "exec", "exec": {"command": command}}), ADMIN, NS)
        assert fields(found) == ["provider.exec.command"], command


def test_exec_env_names_come_from_the_policy_and_loader_variables_never() -> None:
    env = [
        {"name": "AWS_REGION", "value": "eu-west-1"},
        {"name": "PLUGIN_MODE", "value": "ok"},
        {"name": "LD_PRELOAD", "value": "/var/cache/tether/repos/x/evil.so"},
        {"name": "HOME", "value": "/var/cache/tether/repos/x"},
        {"name": "PYTHONPATH", "value": "/tmp"},
        {"name": "AWS_ENDPOINT_URL", "value": "http://attacker"},
        {"name": "OTHER", "value": "x"},
    ]
    provider = {"type": "exec", "exec": {**EXEC["exec"], "env": env}}
    star = RegistryPolicy(NS, exists=True, exec_commands=ADMIN.exec_commands, exec_env=("*",))
    assert fields(refusals(spec(provider), ADMIN, NS)) == [
        "provider.exec.env[2].name",
        "provider.exec.env[3].name",
        "provider.exec.env[4].name",
        "provider.exec.env[5].name",
        "provider.exec.env[6].name",
    ]
    # Even an admin's "*" does not admit loader or redirecting variables.
    assert fields(refusals(spec(provider), star, NS)) == [
        "provider.exec.env[2].name",
        "provider.exec.env[3].name",
        "provider.exec.env[4].name",
        "provider.exec.env[5].name",
    ]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://ecr.vpce-1.eu-west-1.vpce.amazonaws.com", True),
        ("https://ecr.vpce-1.eu-west-1.vpce.amazonaws.com/", True),
        ("https://ecr.vpce-1.eu-west-1.vpce.amazonaws.com.evil.net", False),
        ("https://ecr.vpce-1.eu-west-1.vpce.amazonaws.com:8443", False),
        ("http://ecr.vpce-1.eu-west-1.vpce.amazonaws.com", False),
        ("https://user:pw@ecr.vpce-1.eu-west-1.vpce.amazonaws.com", False),
        ("https://evil.net/?x=https://ecr.vpce-1.eu-west-1.vpce.amazonaws.com", False),
        ("http://169.254.169.254/latest/meta-data", False),
    ],
)
def test_endpoint_url_must_be_under_an_allowed_prefix_by_origin(url: str, allowed: bool) -> None:
    assert url_allowed(url, ADMIN.endpoint_urls) is allowed


def test_endpoint_prefix_path_matches_at_a_slash_boundary() -> None:
    prefixes = ("http://127.0.0.1:5000/aws",)
    assert url_allowed("http://127.0.0.1:5000/aws", prefixes)
    assert url_allowed("http://127.0.0.1:5000/aws/ecr", prefixes)
    assert not url_allowed("http://127.0.0.1:5000/awsx", prefixes)
    assert not url_allowed("http://127.0.0.1:5001/aws", prefixes)


def test_token_file_must_be_listed_exactly() -> None:
    def ecr(path: str) -> RegistryCredentialSpec:
        return spec(
            {
                "type": "ecr",
                "ecr": {
                    "region": "eu-west-1",
                    "roleARN": "arn:aws:iam::123456789012:role/x",
                    "webIdentityTokenFile": path,
                },
            }
        )

    assert refusals(ecr("/var/run/secrets/eks.amazonaws.com/serviceaccount/token"), ADMIN, NS) == []
    for path in (
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "/var/run/secrets/eks.amazonaws.com/serviceaccount/../../kubernetes.io/serviceaccount/token",
        "/etc/shadow",
    ):
        assert fields(refusals(ecr(path), ADMIN, NS)) == ["provider.ecr.webIdentityTokenFile"]


def test_secret_refs_outside_the_controller_namespace_are_refused() -> None:
    basic = {"type": "basic", "basic": {"secretRef": {"name": "x", "namespace": "kube-system"}}}
    found = refusals(spec(basic), ADMIN, NS)
    assert fields(found) == ["provider.basic.secretRef.namespace"]
    assert "controller's namespace tether" in found[0].rule
    ecr = {"type": "ecr", "ecr": {"credentialsSecretRef": {"name": "aws", "namespace": "team-b"}}}
    found = refusals(spec(ecr, registry="123456789012.dkr.ecr.eu-west-1.amazonaws.com"), ADMIN, NS)
    assert fields(found) == ["provider.ecr.credentialsSecretRef.namespace"]


def test_empty_selector_is_refused_and_a_labelled_one_is_not() -> None:
    basic = {"type": "basic", "basic": {"secretRef": {"name": "login"}}}
    selectors: list[dict[str, Any]] = [{}, {"matchLabels": {}}]
    for selector in selectors:
        found = refusals(spec(basic, namespaces={"selector": selector}), ADMIN, NS)
        assert fields(found) == ["namespaces.selector"]
        assert "every namespace" in found[0].rule
    labelled = spec(basic, namespaces={"selector": {"matchLabels": {"pulls": "ecr"}}})
    assert refusals(labelled, ADMIN, NS) == []


def test_a_region_that_is_not_an_aws_region_is_refused() -> None:
    ecr = {"type": "ecr", "ecr": {"region": "evil.net#"}}
    assert fields(refusals(spec(ecr), ADMIN, NS)) == ["provider.ecr.region"]


def test_a_policy_configmap_deployed_from_git_is_ignored() -> None:
    from_git = configmap(
        {"execCommands": "/bin/sh\n"}, labels={"app.tether.dev/instance": "team-a"}
    )
    policy = policy_from_configmap(from_git, NS)
    assert policy.exec_commands == frozenset()
    found = refusals(spec({"type": "exec", "exec": {"command": "/bin/sh"}}), policy, NS)
    assert "deployed by Application team-a" in found[0].rule


def test_broken_policy_entries_are_skipped_and_reported() -> None:
    policy = policy_from_configmap(
        configmap(
            {
                "execCommands": "relative/plugin\n/ok/plugin\n",
                "endpointURLs": "ftp://x\nhttps://u:p@host\nhttps://fine.example.com\n",
                "typo": "x",
            }
        ),
        NS,
    )
    assert policy.exec_commands == frozenset({"/ok/plugin"})
    assert policy.endpoint_urls == ("https://fine.example.com",)
    assert len(policy.problems) == 4
    assert not any("u:p" in problem for problem in policy.problems)


def test_refusal_message_names_every_field() -> None:
    provider = {"type": "exec", "exec": {"command": "/tmp/x", "env": [{"name": "LD_PRELOAD"}]}}
    message = refusal_message(refusals(spec(provider, namespaces={"selector": {}}), ADMIN, NS))
    assert message.startswith("refused by the registry policy: ")
    for name in ("namespaces.selector", "provider.exec.command", "provider.exec.env[0].name"):
        assert name in message


def test_exec_timeout_is_capped_at_a_minute() -> None:
    slow = {"type": "exec", "exec": {**EXEC["exec"], "timeout": "5m"}}
    with pytest.raises(ValidationError) as info:
        spec(slow)
    assert info.value.errors()[0]["loc"] == ("provider", "exec", "timeout")
    assert spec({"type": "exec", "exec": {**EXEC["exec"], "timeout": "60s"}})
