"""Fixtures of the in-cluster install tests: an app namespace on the kwok cluster; on the
real-node cluster the tether image in an authenticated registry, the chart installed by helm,
and the test's Git repository served where the controller Pods reach it."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from incluster import CHART, NODE_SELECTOR, PULL_SECRET, TETHER, node_ip, wait_for_port_on

from fixtures.cluster import KUBECTL
from fixtures.gitserver import free_port
from fixtures.registry import RegistryServer
from tether.adapters.kube import KubeClient
from tether.engine.registry.spec import dockerconfigjson
from tether.testenv import cluster as localcluster
from tether.testenv import images
from tether.testenv.binaries import helm_path


@pytest.fixture
def app_namespace(cluster: localcluster.ClusterState) -> Iterator[str]:
    """A fresh app namespace name; it and its cluster-wide bindings go afterwards."""
    name = f"ti-{secrets.token_hex(3)}"
    yield name
    run = [KUBECTL, f"--kubeconfig={cluster.kubeconfig}", "delete", "--ignore-not-found"]
    subprocess.run(
        [*run, "clusterrolebinding", f"{name}-controller", f"{name}-deployer"],
        capture_output=True,
        check=False,
    )
    subprocess.run([*run, "--wait=false", "namespace", name], capture_output=True, check=False)


@pytest.fixture(scope="module")
def tether_image(
    real_node_cluster: localcluster.ClusterState, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, bytes]]:
    """The tether image in an authenticated registry the real node pulls from:
    (reference, .dockerconfigjson)."""
    server = RegistryServer(tmp_path_factory.mktemp("tether-registry"))
    with server:
        user, password = server.add_user("ops")
        ref = images.push(images.tether_image(), server.host, user, password, tls_verify=False)
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
        yield ref, dockerconfigjson(server.host, user, password)


@pytest.fixture
def real_kubectl(real_node_cluster: localcluster.ClusterState) -> Callable[..., str]:
    def run(*args: str, check: bool = True) -> str:
        done = subprocess.run(
            [KUBECTL, f"--kubeconfig={real_node_cluster.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
        return done.stdout

    return run


@pytest.fixture
async def real_kube(real_node_cluster: localcluster.ClusterState) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_kubeconfig(real_node_cluster.kubeconfig) as kube:
        yield kube


@pytest.fixture
def pod_git_url(real_node_cluster: localcluster.ClusterState, git_repo: Any) -> Iterator[str]:
    """The test repository, served where the controller Pods can reach it."""
    address = node_ip(real_node_cluster)
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--reuseaddr",
            f"--base-path={git_repo.server.repos}",
            f"--listen={address}",
            f"--port={port}",
            str(git_repo.server.repos),
        ],
        env=git_repo.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port_on(address, port, daemon)
        yield f"git://{address}:{port}/{git_repo.name}.git"
    finally:
        daemon.terminate()
        daemon.wait(10)


@pytest.fixture
def release(
    real_node_cluster: localcluster.ClusterState,
    real_kubectl: Callable[..., str],
    tether_image: tuple[str, bytes],
    tmp_path: Path,
) -> Iterator[str]:
    """The chart installed by helm (--wait: both Pods Ready) in a fresh namespace."""
    ref, config = tether_image
    ns = f"tp-{secrets.token_hex(3)}"
    real_kubectl("create", "namespace", ns)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": PULL_SECRET, "namespace": ns},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config).decode()},
    }
    values = tmp_path / "values.json"
    values.write_text(
        json.dumps(
            {
                "image": {"ref": ref},
                "imagePullSecrets": [{"name": PULL_SECRET}],
                "nodeSelector": NODE_SELECTOR,
                "controller": {"pollSeconds": 3},
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
            }
        )
    )
    subprocess.run(
        [KUBECTL, f"--kubeconfig={real_node_cluster.kubeconfig}", "apply", "-f", "-"],
        input=json.dumps(secret),
        text=True,
        capture_output=True,
        check=True,
    )
    helm = [str(helm_path()), f"--kubeconfig={real_node_cluster.kubeconfig}", f"--namespace={ns}"]
    done = subprocess.run(
        [*helm, "install", "tether", str(CHART), f"--values={values}", "--wait", "--timeout=5m"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    if done.returncode != 0:
        pods = real_kubectl("-n", ns, "get", "pods", "-o", "wide", check=False)
        events = real_kubectl("-n", ns, "get", "events", check=False)
        logs = real_kubectl("-n", ns, "logs", "deploy/tether-controller", "--tail=40", check=False)
        pytest.fail(f"helm install: {done.stderr}\n{pods}\n{events}\n{logs}")
    try:
        yield ns
    finally:
        subprocess.run([*helm, "uninstall", "tether", "--wait"], capture_output=True, check=False)
        real_kubectl("delete", "namespace", ns, "--wait=false", check=False)
