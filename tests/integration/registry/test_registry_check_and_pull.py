"""Login checks and kubelet-style pulls against a real docker-registry with htpasswd."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.registry import RegistryServer
from tether.adapters.registry.check import check_registry
from tether.adapters.registry.pull import pull_manifest
from tether.engine.registry.spec import dockerconfigjson


def test_check_succeeds_with_the_right_password(registry_server: RegistryServer) -> None:
    result = check_registry(registry_server.host, "ci", registry_server.users["ci"])
    assert result.ok and result.status_code == 200


def test_check_fails_with_a_wrong_password_without_echoing_it(
    registry_server: RegistryServer,
) -> None:
    result = check_registry(registry_server.host, "ci", "wrong-password-123")
    assert not result.ok and result.status_code == 401
    assert result.message == "unauthorized: authentication required"
    assert "wrong-password-123" not in result.message


def test_pull_of_pushed_image_succeeds_with_credentials(registry_server: RegistryServer) -> None:
    ok, message = registry_server.pull_ok("finance-api:1.4", "ci", registry_server.users["ci"])
    assert ok, message


def test_pull_without_credentials_fails_like_kubelet(registry_server: RegistryServer) -> None:
    ok, message = registry_server.pull_ok("finance-api:1.4", None, None)
    assert not ok
    assert "authorization failed: no basic auth credentials" in message


def test_pull_with_wrong_password_is_unauthorized(registry_server: RegistryServer) -> None:
    ok, message = registry_server.pull_ok("finance-api:1.4", "ci", "not-the-password")
    assert not ok
    assert "unauthorized: authentication required" in message
    assert "not-the-password" not in message


def test_pull_of_missing_tag_is_manifest_unknown(registry_server: RegistryServer) -> None:
    ok, message = registry_server.pull_ok("finance-api:9.9", "ci", registry_server.users["ci"])
    assert not ok
    assert "manifest unknown" in message


def test_rotating_the_password_makes_old_credentials_fail(registry_server: RegistryServer) -> None:
    user, old = registry_server.add_user("rotating-team")
    assert registry_server.pull_ok("finance-api:1.4", user, old)[0]
    new = registry_server.rotate_password(user)
    ok, message = registry_server.pull_ok("finance-api:1.4", user, old)
    assert not ok and "unauthorized" in message
    assert registry_server.pull_ok("finance-api:1.4", user, new)[0]
    assert not check_registry(registry_server.host, user, old).ok
    assert check_registry(registry_server.host, user, new).ok


def test_pull_result_carries_kubelet_reason_and_manifest_digest(
    registry_server: RegistryServer,
) -> None:
    image = f"{registry_server.host}/finance-api:1.4"
    auths = {registry_server.host: ("ci", registry_server.users["ci"])}
    good = pull_manifest(None, image, auths)
    assert good.ok and good.reason == "" and good.digest.startswith("sha256:")
    bad = pull_manifest(None, image, {})
    assert bad.reason == "ErrImagePull"


def test_ecr_image_names_can_be_served_by_the_local_registry(
    registry_server: RegistryServer,
) -> None:
    """The kwok simulator maps ECR image names onto the test registry by address."""
    ecr_host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    image = f"{ecr_host}/finance-api:1.4"
    auths = {"*.dkr.ecr.*.amazonaws.com": ("ci", registry_server.users["ci"])}
    assert pull_manifest(registry_server.host, image, auths).ok
    missing = pull_manifest(registry_server.host, image, {"ghcr.io": ("ci", "x")})
    assert "no basic auth credentials" in missing.message


def test_a_dockerconfigjson_we_write_is_accepted_by_a_real_client(
    registry_server: RegistryServer, tmp_path: Path
) -> None:
    """skopeo reads the same auth file format kubelet does and fetches config and layers."""
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo not installed: apt-get install -y skopeo")
    auth_file = tmp_path / "config.json"
    config = dockerconfigjson(registry_server.host, "ci", registry_server.users["ci"])
    auth_file.write_bytes(config)
    proc = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--tls-verify=false",
            "--authfile",
            str(auth_file),
            f"docker://{registry_server.host}/finance-api:1.4",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Architecture"] == "amd64"
    layers = subprocess.run(
        [
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            "--authfile",
            str(auth_file),
            f"docker://{registry_server.host}/finance-api:1.4",
            f"dir:{tmp_path / 'image'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert layers.returncode == 0, layers.stderr
