"""Token providers against real endpoints: moto's ECR API and a kubelet exec plugin."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fixtures.moto_ecr import ACCOUNT, MotoServer
from tether.adapters.registry.factory import build_provider
from tether.adapters.registry.providers import EcrProvider, ExecProvider, ProviderError
from tether.engine.registry import RegistryCredentialSpec

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ECR_HOST = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
PLUGIN = Path(__file__).parents[2] / "fixtures" / "kubelet_plugin.py"


# ------------------------------------------------------------ ECR via moto_server


def test_ecr_token_is_decoded_from_get_authorization_token(moto_ecr: MotoServer) -> None:
    keys = moto_ecr.keys
    provider = EcrProvider(
        endpoint_url=moto_ecr.url,
        access_key_id=keys["access_key_id"],
        secret_access_key=keys["secret_access_key"],
        clock=lambda: NOW,
    )
    token = provider.fetch(ECR_HOST)  # region comes from the host
    assert token.username == "AWS"
    assert token.password == f"{ACCOUNT}-auth-token"
    assert token.expires_at == datetime(2015, 1, 1, tzinfo=UTC)  # moto's fixed expiresAt
    assert token.issued_at == NOW
    assert token.proxy_endpoint == f"https://{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
    assert token.password not in repr(token)


def test_ecr_assumes_a_role_with_a_web_identity_token(moto_ecr: MotoServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.e30.sig")
    provider = EcrProvider(
        "eu-west-1",
        endpoint_url=moto_ecr.url,
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/tether-ecr",
        web_identity_token_file=str(token_file),
    )
    assert provider.fetch(ECR_HOST).username == "AWS"


def test_ecr_rejected_keys_are_access_denied_without_the_secret(
    moto_ecr_strict: MotoServer,
) -> None:
    provider = EcrProvider(
        "eu-west-1",
        endpoint_url=moto_ecr_strict.url,
        access_key_id="AKIAUNKNOWN000000000",
        secret_access_key="do-not-leak-this-secret",
    )
    with pytest.raises(ProviderError) as info:
        provider.fetch(ECR_HOST)
    assert info.value.reason == "AccessDenied"
    assert "GetAuthorizationToken" in str(info.value)
    assert "do-not-leak-this-secret" not in str(info.value)


def test_ecr_unreachable_endpoint_is_reported_as_unreachable() -> None:
    provider = EcrProvider(
        "eu-west-1", endpoint_url="http://127.0.0.1:1", access_key_id="a", secret_access_key="b"
    )
    with pytest.raises(ProviderError) as info:
        provider.fetch(ECR_HOST)
    assert info.value.reason == "Unreachable"


def test_ecr_needs_a_region_for_non_ecr_hosts() -> None:
    with pytest.raises(ProviderError, match="no region"):
        EcrProvider().fetch("registry.example.com")


# ------------------------------------------------------------ kubelet exec plugin


def plugin(env: dict[str, str] | None = None, **kwargs: object) -> ExecProvider:
    return ExecProvider(
        sys.executable,
        [str(PLUGIN)],
        env or {},
        clock=lambda: NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def test_exec_plugin_request_and_response_follow_the_kubelet_protocol(tmp_path: Path) -> None:
    record = tmp_path / "request.json"
    env = {"PLUGIN_RECORD": str(record), "PLUGIN_CACHE_DURATION": "6h0m0s"}
    token = plugin(env, image=f"{ECR_HOST}/finance-api:1.4").fetch(ECR_HOST)
    assert json.loads(record.read_text()) == {
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
        "kind": "CredentialProviderRequest",
        "image": f"{ECR_HOST}/finance-api:1.4",
    }
    assert (token.username, token.password) == ("plugin-user", "plugin-secret-password")
    assert token.expires_at == NOW + timedelta(hours=6)
    assert token.issued_at == NOW


def test_exec_plugin_auth_key_may_be_a_pattern() -> None:
    token = plugin({"PLUGIN_AUTH_KEY": "*.dkr.ecr.*.amazonaws.com"}).fetch(ECR_HOST)
    assert token.proxy_endpoint == "*.dkr.ecr.*.amazonaws.com"
    assert token.expires_at == NOW + timedelta(minutes=5)  # default cache duration


def test_exec_plugin_without_auth_for_the_host_is_no_matching_auth() -> None:
    with pytest.raises(ProviderError) as info:
        plugin({"PLUGIN_AUTH_KEY": "ghcr.io"}).fetch(ECR_HOST)
    assert info.value.reason == "NoMatchingAuth"
    assert "ghcr.io" in info.value.message and "plugin-secret-password" not in str(info.value)


def test_exec_plugin_bad_json_is_bad_response_and_stdout_is_never_echoed() -> None:
    with pytest.raises(ProviderError) as info:
        plugin({"PLUGIN_MODE": "badjson", "PLUGIN_PASSWORD": "leaky-pw"}).fetch(ECR_HOST)
    assert info.value.reason == "BadResponse"
    assert "CredentialProviderResponse" in info.value.message
    assert "leaky-pw" not in str(info.value)


def test_exec_plugin_wrong_kind_is_bad_response() -> None:
    with pytest.raises(ProviderError) as info:
        plugin({"PLUGIN_MODE": "wrongkind"}).fetch(ECR_HOST)
    assert info.value.reason == "BadResponse" and "kind" in info.value.message


def test_exec_plugin_non_zero_exit_names_the_command_and_status() -> None:
    with pytest.raises(ProviderError) as info:
        plugin({"PLUGIN_MODE": "fail"}).fetch(ECR_HOST)
    assert info.value.reason == "ExecFailed"
    assert Path(sys.executable).name in info.value.message
    assert "status 1" in info.value.message and "AccessDenied" in info.value.message


def test_exec_plugin_that_hangs_times_out() -> None:
    with pytest.raises(ProviderError) as info:
        plugin({"PLUGIN_MODE": "sleep"}, timeout=timedelta(seconds=1)).fetch(ECR_HOST)
    assert info.value.reason == "Timeout"


def test_exec_plugin_missing_binary_is_exec_failed() -> None:
    with pytest.raises(ProviderError) as info:
        ExecProvider("/nonexistent/credential-provider").fetch(ECR_HOST)
    assert info.value.reason == "ExecFailed"
    assert "/nonexistent/credential-provider" in info.value.message


# ------------------------------------------------------------ spec -> provider


def test_spec_with_ecr_provider_builds_a_working_provider(moto_ecr: MotoServer) -> None:
    spec = RegistryCredentialSpec.model_validate(
        {
            "registry": "*.dkr.ecr.*.amazonaws.com",
            "provider": {
                "type": "ecr",
                "ecr": {
                    "endpointURL": moto_ecr.url,
                    "credentialsSecretRef": {"name": "aws", "namespace": "tether-system"},
                },
            },
            "secretName": "ecr-pull",
            "namespaces": {"names": ["finance"]},
        }
    )
    secret = {"AWS_ACCESS_KEY_ID": b"testing", "AWS_SECRET_ACCESS_KEY": b"testing"}
    provider = build_provider(spec, secret, host=ECR_HOST)
    assert provider.fetch(ECR_HOST).username == "AWS"
    with pytest.raises(ProviderError, match="AWS_ACCESS_KEY_ID"):
        build_provider(spec, {}, host=ECR_HOST)


def test_spec_with_exec_provider_passes_env_and_image_to_the_plugin(tmp_path: Path) -> None:
    record = tmp_path / "request.json"
    spec = RegistryCredentialSpec.model_validate(
        {
            "registry": "*.example.com",
            "provider": {
                "type": "exec",
                "exec": {
                    "command": sys.executable,
                    "args": [str(PLUGIN)],
                    "env": [{"name": "PLUGIN_RECORD", "value": str(record)}],
                    "registryHost": "registry.example.com/team/app",
                },
            },
            "secretName": "pull",
            "namespaces": {"names": ["finance"]},
        }
    )
    token = build_provider(spec).fetch("registry.example.com")
    assert token.username == "plugin-user"
    assert json.loads(record.read_text())["image"] == "registry.example.com/team/app"
