"""Image automation fixtures: the authenticated registry, moto's ECR, and skopeo pushes.

``push_tag`` is how CI publishes an image: ``skopeo copy`` of an image already
in the registry to a new tag, with an auth file holding the CI login.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from fixtures.moto_ecr import moto_ecr
from fixtures.registry import RegistryServer, registry_server
from fixtures.tether import APP_NS
from tether.adapters.kube import KubeClient

__all__ = ["moto_ecr", "policies", "push_tag", "registry_server", "repository"]


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


class Policies:
    """ImagePolicies and registry Secrets in the app namespace, removed afterwards."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.created: list[tuple[str, str]] = []

    async def create(self, spec: dict[str, Any], name: str | None = None) -> str:
        name = name or f"img-{secrets.token_hex(3)}"
        await self.kube.create(
            {
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "ImagePolicy",
                "metadata": {"name": name, "namespace": APP_NS},
                "spec": spec,
            }
        )
        self.created.append(("ImagePolicy", name))
        return name

    async def secret(self, data: dict[str, str], secret_type: str = "Opaque") -> str:
        name = f"img-secret-{secrets.token_hex(3)}"
        await self.kube.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": secret_type,
                "metadata": {"name": name, "namespace": APP_NS},
                "stringData": data,
            }
        )
        self.created.append(("Secret", name))
        return name

    async def pull_secret(self, registry: RegistryServer) -> str:
        login = base64.b64encode(f"ci:{registry.users['ci']}".encode()).decode()
        config = json.dumps({"auths": {registry.host: {"auth": login}}})
        return await self.secret({".dockerconfigjson": config}, "kubernetes.io/dockerconfigjson")

    async def status(self, name: str) -> dict[str, Any]:
        obj = await self.kube.get("tether.dev/v1alpha1", "ImagePolicy", name, APP_NS)
        return dict(obj.get("status") or {})


@pytest.fixture
async def policies(installed: Any) -> AsyncIterator[Policies]:
    kube = KubeClient.from_kubeconfig(installed.kubeconfig)
    helper = Policies(kube)
    try:
        yield helper
    finally:
        for kind, name in helper.created:
            api_version = "v1" if kind == "Secret" else "tether.dev/v1alpha1"
            await kube.delete(api_version, kind, name, APP_NS)
        await kube.close()
