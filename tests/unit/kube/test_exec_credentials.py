"""Kubeconfig exec credential plugins: run, parse, cache until expiry, refuse safely."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from fixtures.exec_plugin import Plugin, write_plugin
from tether.adapters.kube import config
from tether.adapters.kube.exec_credentials import (
    ClusterInfo,
    ExecConfig,
    ExecCredentialError,
    ExecCredentials,
)

V1 = "client.authentication.k8s.io/v1"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def stamp(seconds_after: float, clock: Clock) -> str:
    when = dt.datetime.fromtimestamp(clock.now + seconds_after, tz=dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def source(plugin: Plugin, clock: Clock | None = None, **cfg: object) -> ExecCredentials:
    spec = {"command": str(plugin.path), "apiVersion": V1, "interactiveMode": "Never", **cfg}
    return ExecCredentials(
        ExecConfig.from_kubeconfig(spec),
        ClusterInfo(server="https://example.test:6443", ca_data="Q0E="),
        clock=clock or Clock(),
        timeout=5,
    )


def test_a_token_is_kept_until_it_expires_then_the_plugin_runs_again(tmp_path: Path) -> None:
    plugin, clock = write_plugin(tmp_path), Clock()
    plugin.answer(status={"token": "one", "expirationTimestamp": stamp(600, clock)})
    creds = source(plugin, clock)
    assert creds.token() == "one"
    plugin.answer(status={"token": "two", "expirationTimestamp": stamp(1200, clock)})
    clock.now += 300
    assert creds.token() == "one"
    assert len(plugin.runs()) == 1
    clock.now += 300
    assert creds.token() == "two"
    assert len(plugin.runs()) == 2


def test_a_token_without_expiry_is_kept_until_forced(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path)
    plugin.answer(status={"token": "one"})
    creds = source(plugin)
    assert creds.token() == "one"
    plugin.answer(status={"token": "two"})
    assert creds.token() == "one"
    assert creds.token(force=True) == "two"


def test_the_plugin_gets_its_args_env_and_is_told_it_is_not_interactive(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path)
    plugin.answer(status={"token": "t"}, echo_env=["REGION"])
    creds = source(
        plugin,
        args=["eks", "get-token", "--cluster-name", "prod"],
        env=[{"name": "REGION", "value": "eu-west-1"}],
        provideClusterInfo=True,
    )
    creds.token()
    [run] = plugin.runs()
    assert run["args"] == ["eks", "get-token", "--cluster-name", "prod"]
    assert run["env"] == {"REGION": "eu-west-1"}
    assert run["stdin_closed"] is True
    assert run["info"]["spec"]["interactive"] is False
    assert run["info"]["spec"]["cluster"] == {
        "server": "https://example.test:6443",
        "certificate-authority-data": "Q0E=",
    }


def test_cluster_info_is_withheld_unless_asked_for(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path)
    source(plugin).token()
    assert "cluster" not in plugin.runs()[0]["info"]["spec"]


def test_v1beta1_plugins_are_accepted(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path)
    beta = "client.authentication.k8s.io/v1beta1"
    plugin.answer(apiVersion=beta, status={"token": "beta"})
    assert source(plugin, apiVersion=beta).token() == "beta"


def test_an_answer_in_another_api_version_is_refused(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path)
    plugin.answer(apiVersion="client.authentication.k8s.io/v1beta1", status={"token": "t"})
    with pytest.raises(ExecCredentialError, match=r"asked for client\.authentication\.k8s\.io/v1"):
        source(plugin).token()


def test_an_unknown_api_version_is_refused_when_read() -> None:
    with pytest.raises(ExecCredentialError, match="not supported"):
        ExecConfig.from_kubeconfig(
            {"command": "x", "apiVersion": "client.authentication.k8s.io/v1alpha1"}
        )


def test_a_client_certificate_is_written_to_private_files(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path)
    plugin.answer(status={"clientCertificateData": "CERT", "clientKeyData": "KEY"})
    cred = source(plugin).credential()
    assert cred.files is not None
    assert Path(cred.files[0]).read_text() == "CERT\n"
    assert Path(cred.files[1]).stat().st_mode & 0o077 == 0


def test_a_plugin_that_needs_a_terminal_is_refused_without_running(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path)
    with pytest.raises(ExecCredentialError, match="interactiveMode: Always"):
        source(plugin, interactiveMode="Always").token()
    assert plugin.runs() == []


def test_a_failing_plugin_reports_its_stderr_with_secrets_masked(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path)
    leaked = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"
    plugin.answer(
        exit=3, stderr=f"could not refresh: token {leaked} rejected; key=hunter2-secret\n"
    )
    with pytest.raises(ExecCredentialError) as failure:
        source(plugin, env=[{"name": "AWS_SECRET", "value": "hunter2-secret"}]).token()
    message = str(failure.value)
    assert "exit 3" in message and "could not refresh" in message
    assert leaked not in message and "hunter2" not in message


def test_a_plugin_that_hangs_is_stopped(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path)
    plugin.answer(sleep=30, status={"token": "late"})
    creds = source(plugin)
    creds.timeout = 1
    with pytest.raises(ExecCredentialError, match="no credential within 1s"):
        creds.token()


def test_a_missing_plugin_names_its_install_hint(tmp_path: Path) -> None:
    spec = {
        "command": "no-such-auth-plugin-xyz",
        "apiVersion": V1,
        "installHint": "install it with brew",
    }
    with pytest.raises(ExecCredentialError, match="not found: install it with brew"):
        ExecCredentials(ExecConfig.from_kubeconfig(spec)).token()


def test_a_kubeconfig_user_with_exec_loads_and_finds_a_relative_command(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path / "bin")
    plugin.answer(status={"token": "from-plugin"})
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "current-context": "eks",
                "contexts": [{"name": "eks", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://eks.test"}}],
                "users": [
                    {
                        "name": "u",
                        "user": {"exec": {"apiVersion": V1, "command": "./bin/get-token"}},
                    }
                ],
            }
        )
    )
    conn = config.load(str(kubeconfig))
    assert conn.token is None
    assert conn.exec_credentials is not None
    assert conn.exec_credentials.token() == "from-plugin"
