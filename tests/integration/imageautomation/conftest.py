"""Image automation fixtures: the authenticated registry, moto's ECR, and skopeo pushes.

``push_tag`` is how CI publishes an image: ``skopeo copy`` of an image already
in the registry to a new tag, with an auth file holding the CI login.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.moto_ecr import moto_ecr
from fixtures.registry import RegistryServer, registry_server

__all__ = ["moto_ecr", "push_tag", "registry_server", "repository"]


@pytest.fixture
def repository(registry_server: RegistryServer) -> str:
    """A fresh repository holding one image at tag ``1.0.0``."""
    name = f"team/api-{secrets.token_hex(3)}"
    registry_server.push_image(name, "1.0.0", "ci", registry_server.users["ci"])
    return name


@pytest.fixture
def push_tag(registry_server: RegistryServer, tmp_path: Path) -> Callable[[str, str], None]:
    auth = tmp_path / "skopeo-auth.json"
    login = base64.b64encode(f"ci:{registry_server.users['ci']}".encode()).decode()
    auth.write_text(json.dumps({"auths": {registry_server.host: {"auth": login}}}))

    def push(repository: str, tag: str) -> None:
        src = f"docker://{registry_server.host}/{repository}:1.0.0"
        dest = f"docker://{registry_server.host}/{repository}:{tag}"
        done = subprocess.run(
            ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
             f"--authfile={auth}", src, dest],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    return push
