"""A registry's push notification makes its policies scan now, not at their interval.

The policy scans every 300 s, so only the webhook explains a commit within the
test's timeout. The controller is the real ``tether controller --listen``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from fixtures.registry import RegistryServer
from fixtures.server import TetherServer
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient


@pytest.fixture
async def server_kube(tether_server: TetherServer) -> AsyncIterator[KubeClient]:
    kube = KubeClient.from_kubeconfig(tether_server.kubeconfig)
    yield kube
    await kube.close()


async def test_a_push_notification_scans_the_policy_at_once(
    git_repo: Any,
    tether_server: TetherServer,
    server_kube: KubeClient,
    registry_server: RegistryServer,
    repository: str,
    push_tag: Callable[[str, str], None],
) -> None:
    ns = tether_server.namespace
    image = f"{registry_server.host}/{repository}"
    name = f"hooked-{secrets.token_hex(3)}"
    git_repo.commit({"app.yaml": f'image: {image}:1.0.0 # {{"$imagepolicy": "{ns}:{name}"}}\n'})
    secret = f"pull-{name}"
    await server_kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret, "namespace": ns},
            "stringData": {"username": "ci", "password": registry_server.users["ci"]},
        }
    )
    await server_kube.create(
        {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "ImagePolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "image": image,
                "secretRef": {"name": secret},
                "interval": "300s",
                "policy": {"semver": {"range": "1.x"}},
                "writeBack": {"repoURL": git_repo.git_url},
            },
        }
    )
    try:

        async def scanned() -> bool:
            obj = await server_kube.get("tether.dev/v1alpha1", "ImagePolicy", name, ns)
            return (obj.get("status") or {}).get("latestTag") == "1.0.0"

        await await_for(scanned, timeout=30, what="the first scan")
        push_tag(repository, "1.1.0")
        event = {
            "events": [
                {
                    "action": "push",
                    "target": {"repository": repository, "tag": "1.1.0"},
                    "request": {"host": registry_server.host},
                }
            ]
        }
        body = json.dumps(event).encode()
        with httpx.Client(base_url=tether_server.url, timeout=10) as http:
            wrong = http.post(
                "/api/webhook/registry", content=body, headers={"Authorization": "Bearer no"}
            )
            assert wrong.status_code == 401
            right = http.post(
                "/api/webhook/registry",
                content=body,
                headers={"Authorization": f"Bearer {tether_server.webhook_secret}"},
            )
            assert right.status_code == 200, right.text
            assert right.json() == {"scanning": [image]}

        async def committed() -> bool:
            git_repo.git("pull", "-q", "origin", "main")
            return ":1.1.0 #" in (git_repo.work / "app.yaml").read_text()

        await await_for(committed, timeout=30, what="the commit of 1.1.0")
        with tether_server.readonly() as http:
            metrics = http.get("/metrics").text
        commits = next(
            line for line in metrics.splitlines() if line.startswith("tether_image_commits_total")
        )
        assert float(commits.split()[-1]) >= 1
    finally:
        await server_kube.delete("tether.dev/v1alpha1", "ImagePolicy", name, ns)
        await server_kube.delete("v1", "Secret", secret, ns)
