"""``make demo`` on a real node: Tether runs in the cluster and the finance app really answers.

Where this machine can run containers, the demo's cluster gets one real node
(kubelet, containerd, runc). The finance-api and tether images are built
without a Docker daemon and pushed to a local registry that needs a password;
the chart installs the controller (two replicas, leader election) pulling its
image with an imagePullSecret, and the finance app pulls its image with the
team's pull secret ``ecr-pull``, as in the seed story.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tether.adapters.kube import KubeClient
from tether.controller.install import controller_values, install_controller
from tether.engine.registry.spec import dockerconfigjson
from tether.testenv import images, nodeimages

REGISTRY_BIN = "/usr/bin/docker-registry"
NODE_SELECTOR = {"tether.dev/real-node": "true"}
FINANCE_TAG = "1.4"


@dataclass
class Registry:
    host: str
    user: str
    password: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_registry(workdir: Path, port: int) -> Registry:
    """docker-registry on loopback with one htpasswd user (the demo's "ECR")."""
    workdir.mkdir(parents=True, exist_ok=True)
    user, password = "ci", secrets.token_urlsafe(16)
    htpasswd = workdir / "htpasswd"
    entry = subprocess.run(
        ["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True
    ).stdout
    htpasswd.write_text(entry)
    host = f"127.0.0.1:{port}"
    config = workdir / "config.yml"
    config.write_text(
        json.dumps(
            {
                "version": 0.1,
                "log": {"level": "warn", "accesslog": {"disabled": True}},
                "storage": {"filesystem": {"rootdirectory": str(workdir / "data")}},
                "http": {"addr": host, "secret": secrets.token_hex(16)},
                "auth": {"htpasswd": {"realm": "tether-demo", "path": str(htpasswd)}},
            }
        )
    )
    log = open(workdir / "registry.log", "ab")  # noqa: SIM115 - the process keeps it
    process = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{host}/v2/", timeout=1).status_code == 401:
                return Registry(host, user, password, process)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("the demo registry did not start; see " + str(workdir / "registry.log"))


def available() -> bool:
    return shutil.which("htpasswd") is not None and Path(REGISTRY_BIN).exists()


def push_images(registry: Registry, cluster_dir: Path) -> tuple[str, str]:
    """Build and push finance-api and tether; let the real node trust the registry."""
    finance = images.push(
        images.finance_app_image(tag=FINANCE_TAG),
        registry.host,
        registry.user,
        registry.password,
        tls_verify=False,
    )
    tether = images.push(
        images.tether_image(), registry.host, registry.user, registry.password, tls_verify=False
    )
    nodeimages.trust_registry(cluster_dir, registry.host)
    return finance, tether


def pull_secret(name: str, namespace: str, registry: Registry) -> dict[str, object]:
    config = dockerconfigjson(registry.host, registry.user, registry.password)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": name, "namespace": namespace},
        "data": {".dockerconfigjson": base64.b64encode(config).decode()},
    }


async def install_in_cluster(kube: KubeClient, registry: Registry, tether_image: str) -> None:
    """The controller as Pods on the real node, from the chart (``tether install --controller``)."""
    await kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tether"}},
        field_manager="tether-demo",
    )
    await kube.apply(
        pull_secret("tether-image-pull", "tether", registry), field_manager="tether-demo"
    )
    await install_controller(
        kube,
        "tether",
        values=controller_values(
            tether_image,
            imagePullSecrets=[{"name": "tether-image-pull"}],
            nodeSelector=NODE_SELECTOR,
            controller={"pollSeconds": 15},
        ),
    )


async def prepare_finance(kube: KubeClient, registry: Registry) -> None:
    """The team's namespace and its hand-made pull secret ``ecr-pull`` (valid today)."""
    await kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "finance"}},
        field_manager="tether-demo",
    )
    await kube.apply(pull_secret("ecr-pull", "finance", registry), field_manager="tether-demo")


def finance_manifests(work: Path, image: str) -> None:
    """Point the example Deployment at the image in the demo registry, on the real node."""
    deployment = work / "apps" / "finance" / "deployment.yaml"
    text = deployment.read_text()
    text = text.replace("123456789012.dkr.ecr.eu-west-1.amazonaws.com/finance-api:1.4", image)
    if "nodeSelector" not in text:
        text = text.replace(
            "    spec:\n      imagePullSecrets:",
            '    spec:\n      nodeSelector:\n        tether.dev/real-node: "true"\n'
            "      imagePullSecrets:",
        )
    deployment.write_text(text)


async def wait_ready(kube: KubeClient, namespace: str, deployment: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = await kube.get_or_none("apps/v1", "Deployment", deployment, namespace)
        status = (live or {}).get("status") or {}
        if live and status.get("readyReplicas", 0) >= (live["spec"].get("replicas") or 1):
            return
        await asyncio.sleep(1)
    raise RuntimeError(f"Deployment {namespace}/{deployment} was not Ready in {timeout:.0f}s")


async def service_url(kube: KubeClient, namespace: str, name: str, port: int) -> str:
    svc = await kube.get("v1", "Service", name, namespace)
    return f"http://{svc['spec']['clusterIP']}:{port}"


async def node_address(kubeconfig: str) -> str:
    """The real node's InternalIP: where its Pods reach services on this host."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        api = await kube.resource_for("v1", "Node")
        nodes, _ = await kube.list(api, label_selector="tether.dev/real-node")
    for node in nodes:
        for address in (node.get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP":
                return str(address["address"])
    raise RuntimeError("the real node reports no InternalIP")


async def install_and_wait(
    kubeconfig: str,
    registry: Registry,
    tether_image: str,
    create_app: Callable[[], Awaitable[str]],
) -> tuple[str, str, str]:
    """Install the controller, create the token and the app; (token, UI URL, app URL)."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        await install_in_cluster(kube, registry, tether_image)
        await prepare_finance(kube, registry)
        token = await create_app()
        await wait_ready(kube, "tether", "tether-controller", timeout=300)
        await wait_ready(kube, "finance", "finance-api", timeout=300)
        ui = await service_url(kube, "tether", "tether", 80)
        app = await service_url(kube, "finance", "finance-api", 80)
    return token, ui, app
