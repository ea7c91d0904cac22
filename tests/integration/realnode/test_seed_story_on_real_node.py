"""The seed story on a real node: containerd pulls, Pods answer HTTP, a pull secret expires.

The finance app's image (a real HTTP service, built without a Docker daemon)
sits in an authenticated local registry. Tether syncs the app from Git; the
kubelet and containerd of a real node pull it with the team's imagePullSecret
and its Pods answer through the Service. The registry password rotates, a
commit scales to 3, and the new Pods hit containerd's real 401 and
ImagePullBackOff; ``explain`` names the pull secret; a RegistryCredential
rewrites it and the Pods start, with no hand on the cluster.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.pods import live_pods, ready, waiting
from fixtures.registry import CONTROLLER_NS, RegCreds, RegistryServer
from fixtures.tether import APP_NS, Apps, _running_controller, example_files
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.install import install
from tether.controller.runtime import Controller
from tether.controller.service import AppService
from tether.engine.registry.spec import dockerconfigjson
from tether.testenv import cluster as localcluster
from tether.testenv import images

pytestmark = pytest.mark.cluster
TETHER = str(Path(sys.executable).with_name("tether"))
DEPLOYMENT = "apps/finance/deployment.yaml"


@pytest.fixture(scope="module")
def finance_registry(
    real_node_cluster: localcluster.ClusterState, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryServer]:
    """The authenticated registry holding finance-api:1.0, trusted by the real node."""
    server = RegistryServer(tmp_path_factory.mktemp("finance-registry"))
    with server:
        user, password = server.add_user("ci")
        images.push(
            images.finance_app_image(tag="1.0"), server.host, user, password, tls_verify=False
        )
        trusted = subprocess.run(
            [
                TETHER,
                "cluster",
                "trust-registry",
                server.host,
                "--dir",
                real_node_cluster.directory,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert trusted.returncode == 0, trusted.stderr
        yield server


@pytest.fixture
async def real_controller(
    real_node_cluster: localcluster.ClusterState, tmp_path: Path
) -> AsyncIterator[Controller]:
    async with KubeClient.from_kubeconfig(real_node_cluster.kubeconfig) as kube:
        await install(kube, APP_NS)
    async for ctl in _running_controller(real_node_cluster, tmp_path / "cache", 3.0):
        yield ctl


async def _get(url: str, timeout: float = 60) -> str:
    """The body at ``url``, retried while kube-proxy and the Pod settle."""

    async def probe() -> str:
        try:
            async with httpx.AsyncClient(timeout=3) as http:
                resp = await http.get(url)
                return resp.text if resp.status_code == 200 else ""
        except httpx.HTTPError:
            return ""

    return await await_for(probe, timeout=timeout, what=f"an answer from {url}")


async def test_finance_app_really_runs_and_an_expired_pull_secret_is_cured(
    real_node_cluster: localcluster.ClusterState,
    finance_registry: RegistryServer,
    real_controller: Controller,
    git_repo: Any,
) -> None:
    kube = real_controller.kube
    apps = Apps(kube)
    service = AppService(
        kube,
        real_controller.reconciler,
        controller=real_controller,
        namespace=APP_NS,
        wait_timeout=60,
    )
    regcreds = RegCreds(kube)
    registry = finance_registry.host
    dest = f"finance-{secrets.token_hex(3)}"
    user, password = finance_registry.add_user(f"team-{dest}")
    await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": dest}})
    try:
        # The team's hand-made pull secret, valid today.
        config = dockerconfigjson(registry, user, password)
        await kube.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/dockerconfigjson",
                "metadata": {"name": "ecr-pull", "namespace": dest},
                "data": {".dockerconfigjson": base64.b64encode(config).decode()},
            }
        )
        files = example_files()
        files[DEPLOYMENT] = (
            files[DEPLOYMENT]
            .replace(
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/finance-api:1.4",
                f"{registry}/finance-api:1.0",
            )
            .replace(
                "    spec:\n      imagePullSecrets:",
                "    spec:\n      nodeSelector:\n        type: real\n      imagePullSecrets:",
            )
            # One real node already holds the image after the first Pod: pull on every
            # start, as with a mutable tag, so new Pods meet the registry as in the story.
            .replace(
                f"image: {registry}/finance-api:1.0\n",
                f"image: {registry}/finance-api:1.0\n          imagePullPolicy: Always\n",
            )
            .replace("initialDelaySeconds: 5", "initialDelaySeconds: 1")
            .replace("periodSeconds: 10", "periodSeconds: 1")
        )
        assert "type: real" in files[DEPLOYMENT] and "imagePullPolicy: Always" in files[DEPLOYMENT]
        git_repo.commit(files, message="finance app, 1 replica")
        name = await apps.create(
            git_repo.git_url, dest=dest, options=[], automated={"prune": True, "selfHeal": True}
        )
        apps.created.append(name)
        await apps.wait(
            name,
            lambda s: (
                (s.get("health") or {}).get("status") == "Healthy"
                and (s.get("sync") or {}).get("status") == "Synced"
            ),
            "Synced and Healthy on the real node",
            timeout=180,
        )
        svc = await kube.get("v1", "Service", "finance-api", dest)
        version = await _get(f"http://{svc['spec']['clusterIP']}/version")
        assert "1.0" in version
        pods = await live_pods(kube, dest)
        assert [ready(p) for p in pods] == [True]

        # The password rotates; the running Pod keeps the image it pulled.
        finance_registry.rotate_password(user)
        git_repo.commit(
            {DEPLOYMENT: files[DEPLOYMENT].replace("replicas: 1", "replicas: 3")},
            message="scale finance-api to 3",
        )

        async def two_backing_off() -> list[dict[str, Any]]:
            pods = await live_pods(kube, dest)
            stuck = [p for p in pods if waiting(p) in ("ImagePullBackOff", "ErrImagePull")]
            return stuck if len(pods) == 3 and len(stuck) == 2 else []

        stuck = await await_for(two_backing_off, timeout=120, what="two Pods failing to pull")
        message = stuck[0]["status"]["containerStatuses"][0]["state"]["waiting"].get("message", "")
        assert "401" in message or "unauthorized" in message.lower(), message

        async def explained() -> dict[str, Any] | None:
            result = await service.explain(name)
            return result if "ecr-pull" in result["text"] else None

        why = await await_for(explained, timeout=90, what="explain names the pull secret")
        assert password not in str(why)

        # The cure: a RegistryCredential keeps the pull secret, from the new password.
        new_password = finance_registry.users[user]
        await regcreds.secret(
            CONTROLLER_NS, f"login-{dest}", {"username": user, "password": new_password}
        )
        await regcreds.create(
            f"finance-{dest}",
            {
                "registry": registry,
                "provider": {
                    "type": "basic",
                    "basic": {"secretRef": {"name": f"login-{dest}", "namespace": CONTROLLER_NS}},
                },
                "secretName": "ecr-pull",
                "namespaces": {"fromApplications": True},
            },
        )

        async def three_ready() -> list[dict[str, Any]]:
            pods = await live_pods(kube, dest)
            return pods if len(pods) == 3 and all(ready(p) for p in pods) else []

        pods = await await_for(three_ready, timeout=300, what="three Pods Ready without a touch")
        answers = await asyncio.gather(
            *(_get(f"http://{p['status']['podIP']}:8080/healthz") for p in pods)
        )
        assert len(answers) == 3
        await apps.wait_synced(name, healthy=True)
    finally:
        for credential in regcreds.created:
            await kube.delete("tether.dev/v1alpha1", "RegistryCredential", credential)
        await kube.delete("v1", "Secret", f"login-{dest}", CONTROLLER_NS)
        for name in apps.created:
            await kube.delete("tether.dev/v1alpha1", "Application", name, APP_NS)
        await kube.delete("v1", "Namespace", dest)
