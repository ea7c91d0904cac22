"""Images pushed to the authenticated registry: pulled back only with credentials, intact."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from image_tools import authfile, pull, skopeo

from fixtures.registry import RegistryServer
from tether.cli.main import cli
from tether.testenv import images


def test_pushed_images_pull_back_with_credentials_and_keep_their_digests(
    registry_server: RegistryServer,
    pushed: dict[str, str],
    built_finance: images.Image,
    built_tether: images.Image,
    tmp_path: Path,
) -> None:
    auth = authfile(tmp_path, registry_server.host, "ci", registry_server.users["ci"])
    for image in (built_finance, built_tether):
        reference = pushed[image.name]
        inspected = json.loads(
            skopeo(
                "inspect", "--tls-verify=false", f"--authfile={auth}", f"docker://{reference}"
            ).stdout
        )
        assert inspected["Digest"] == image.digest
        target = tmp_path / f"pulled-{image.name}"
        result = pull(reference, auth, target, image.tag)
        assert result.returncode == 0, result.stderr
        index = json.loads((target / "index.json").read_text())
        assert index["manifests"][0]["digest"] == image.digest


def test_pulls_without_or_with_wrong_credentials_are_refused(
    registry_server: RegistryServer, pushed: dict[str, str], tmp_path: Path
) -> None:
    reference = pushed["finance-api"]
    for auth in (
        authfile(tmp_path, registry_server.host, None, ""),
        authfile(tmp_path, registry_server.host, "ci", "not-the-password"),
    ):
        result = pull(reference, auth, tmp_path / "denied", "1.4")
        assert result.returncode != 0
        assert "unauthorized" in result.stderr.lower() or "authentication" in result.stderr.lower()
        assert not (tmp_path / "denied" / "blobs").exists() or not any(
            (tmp_path / "denied" / "blobs").rglob("*")
        )


def test_push_keeps_the_password_off_command_lines_and_out_of_errors(
    registry_server: RegistryServer,
    built_finance: images.Image,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[list[str]] = []
    real_run = subprocess.run

    def spy(cmd: list[str], *args: Any, **kwargs: Any) -> Any:
        seen.append(list(cmd))
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    secret = "hunter2-" + uuid.uuid4().hex
    with pytest.raises(images.ImageBuildError) as refused:
        images.push(built_finance, registry_server.host, "ci", secret, tls_verify=False)
    assert secret not in str(refused.value)
    assert (
        "unauthorized" in str(refused.value).lower()
        or "authentication" in str(refused.value).lower()
    )
    password = registry_server.users["ci"]
    images.push(built_finance, registry_server.host, "ci", password, tls_verify=False)
    assert seen and all(secret not in arg and password not in arg for c in seen for arg in c)


def test_image_configs_pulled_from_the_registry_say_how_they_run(
    registry_server: RegistryServer, pushed: dict[str, str], tmp_path: Path
) -> None:
    auth = authfile(tmp_path, registry_server.host, "ci", registry_server.users["ci"])

    def config(reference: str) -> dict[str, Any]:
        raw = skopeo("inspect", "--config", "--tls-verify=false", f"--authfile={auth}",
                     f"docker://{reference}").stdout  # fmt: skip
        return dict(json.loads(raw)["config"])

    finance = config(pushed["finance-api"])
    assert finance["Entrypoint"] == ["/finance-api"]
    assert finance["User"] == "65532:65532"
    assert "FINANCE_API_VERSION=1.4" in finance["Env"]
    assert finance["Labels"]["org.opencontainers.image.version"] == "1.4"
    assert "8080/tcp" in finance["ExposedPorts"]

    tether = config(pushed["tether"])
    assert tether["Entrypoint"] == ["/usr/local/bin/tether"]
    assert tether["User"] == "10001:10001"
    assert "TETHER_HELM=/usr/local/bin/helm" in tether["Env"]
    assert tether["Labels"]["org.opencontainers.image.title"] == "tether"


def test_cli_builds_exports_and_pushes_with_the_password_from_stdin(
    registry_server: RegistryServer, tmp_path: Path
) -> None:
    user, password = registry_server.add_user("cli-pusher")
    result = CliRunner().invoke(
        cli,
        ["cluster", "images", "finance-api", "--tag", "1.6", "--export", str(tmp_path),
         "--push", registry_server.host, "--username", user, "--insecure"],
        input=password + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert password not in result.output
    reference = f"{registry_server.host}/finance-api:1.6"
    assert reference in result.output
    assert (tmp_path / "finance-api-1.6.tar").exists()
    auth = authfile(tmp_path, registry_server.host, user, password)
    config = skopeo("inspect", "--config", "--tls-verify=false", f"--authfile={auth}",
                    f"docker://{reference}").stdout  # fmt: skip
    assert "FINANCE_API_VERSION=1.6" in json.loads(config)["config"]["Env"]
