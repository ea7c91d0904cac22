"""Token providers against real endpoints: moto's ECR API and a kubelet exec plugin.

The exec plugin runs in a box (empty environment, bounded output, a timeout
that kills its whole process group, stderr withheld); the tests below prove each
wall with a plugin that tries to get past it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fixtures.moto_ecr import ACCOUNT, MotoServer
from tether.adapters.registry.exec_plugin import MAX_STDOUT, ExecProvider
from tether.adapters.registry.factory import build_provider
from tether.adapters.registry.providers import EcrProvider, ProviderError
from tether.engine.registry.policy import RegistryPolicy
from tether.engine.registry.spec import RegistryCredentialSpec

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
        str(PLUGIN),
        [],
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


def test_exec_plugin_non_zero_exit_names_the_command_and_status_but_withholds_stderr() -> None:
    with pytest.raises(ProviderError) as info:
        plugin({"PLUGIN_MODE": "fail"}).fetch(ECR_HOST)
    assert info.value.reason == "ExecFailed"
    assert PLUGIN.name in info.value.message
    assert "status 1" in info.value.message
    assert "stderr withheld" in info.value.message and "AccessDenied" in info.value.message
    assert "could not get credentials" not in str(info.value)  # stderr's own words


def _script(tmp_path: Path, name: str, body: str) -> Path:
    script = tmp_path / name
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(0o755)
    return script


def test_exec_plugin_stderr_holding_a_secret_never_reaches_the_error(tmp_path: Path) -> None:
    leak = _script(
        tmp_path,
        "leak.py",
        "import sys\nsys.stderr.write('token=stolen-aws-secret-123 AccessDenied\\n')\n"
        "sys.exit(3)\n",
    )
    with pytest.raises(ProviderError) as info:
        ExecProvider(str(leak)).fetch(ECR_HOST)
    assert "stolen-aws-secret-123" not in str(info.value)
    assert "status 3" in info.value.message and "AccessDenied" in info.value.message


def test_exec_plugin_sees_only_its_spec_env_not_the_controllers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "controller-aws-secret")
    monkeypatch.setenv("TETHER_API_TOKEN", "controller-token")
    monkeypatch.setenv("KUBECONFIG", "/root/.kube/config")
    dump = tmp_path / "env.json"
    dumper = _script(
        tmp_path,
        "dump.py",
        f"import json, os\njson.dump(dict(os.environ), open({str(dump)!r}, 'w'))\n",
    )
    with pytest.raises(ProviderError):  # no response on stdout: the env dump is the point
        ExecProvider(str(dumper), env={"PLUGIN_MODE": "ok"}).fetch(ECR_HOST)
    seen = set(json.loads(dump.read_text())) - {"LC_CTYPE"}  # python sets LC_CTYPE itself
    assert seen == {"PLUGIN_MODE"}


def test_exec_plugin_flooding_stdout_is_cut_off_and_killed(tmp_path: Path) -> None:
    flood = _script(
        tmp_path, "flood.py", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
    )
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        ExecProvider(str(flood), timeout=timedelta(seconds=20)).fetch(ECR_HOST)
    assert info.value.reason == "BadResponse" and str(MAX_STDOUT) in info.value.message
    assert time.monotonic() - started < 10


def test_exec_plugin_timeout_kills_the_children_it_left_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    spawner = _script(
        tmp_path,
        "spawn.py",
        "import subprocess, time\n"
        f"child = subprocess.Popen(['/bin/sleep', '300'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(300)\n",
    )
    with pytest.raises(ProviderError) as info:
        ExecProvider(str(spawner), timeout=timedelta(seconds=1)).fetch(ECR_HOST)
    assert info.value.reason == "Timeout"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(child, 9)
        raise AssertionError("the plugin's child outlived the timeout")


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
    policy = RegistryPolicy("tether-system", exists=True, endpoint_urls=(moto_ecr.url,))
    provider = build_provider(spec, secret, policy=policy, host=ECR_HOST)
    assert provider.fetch(ECR_HOST).username == "AWS"
    with pytest.raises(ProviderError, match="AWS_ACCESS_KEY_ID"):
        build_provider(spec, {}, policy=policy, host=ECR_HOST)
    with pytest.raises(ProviderError) as info:  # the same spec, without the admin's allowance
        build_provider(spec, secret, policy=RegistryPolicy("tether-system"), host=ECR_HOST)
    assert info.value.reason == "PolicyRefused"
    assert "provider.ecr.endpointURL" in info.value.message


def test_spec_with_exec_provider_passes_env_and_image_to_the_plugin(tmp_path: Path) -> None:
    record = tmp_path / "request.json"
    spec = RegistryCredentialSpec.model_validate(
        {
            "registry": "*.example.com",
            "provider": {
                "type": "exec",
                "exec": {
                    "command": str(PLUGIN),
                    "env": [{"name": "PLUGIN_RECORD", "value": str(record)}],
                    "registryHost": "registry.example.com/team/app",
                },
            },
            "secretName": "pull",
            "namespaces": {"names": ["finance"]},
        }
    )
    policy = RegistryPolicy(
        "tether", exists=True, exec_commands=frozenset({str(PLUGIN)}), exec_env=("PLUGIN_*",)
    )
    token = build_provider(spec, policy=policy).fetch("registry.example.com")
    assert token.username == "plugin-user"
    assert json.loads(record.read_text())["image"] == "registry.example.com/team/app"
    record.unlink()
    with pytest.raises(ProviderError) as info:
        build_provider(spec, policy=RegistryPolicy("tether"))
    assert info.value.reason == "PolicyRefused" and "provider.exec.command" in info.value.message
    assert not record.exists()  # refused before anything ran
