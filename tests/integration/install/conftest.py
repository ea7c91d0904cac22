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
from incluster import CHART, PULL_SECRET, TETHER, node_ip, pod_values, wait_for_port_on

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


@pytest.fixture(scope="session")
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
    def run(*args: str, check: bool = True, input: str | None = None) -> str:
        done = subprocess.run(
            [KUBECTL, f"--kubeconfig={real_node_cluster.kubeconfig}", *args],
            input=input,
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


def namespace_with_pull_secret(kubectl: Callable[..., str], prefix: str, config: bytes) -> str:
    """A fresh namespace holding the pull Secret of the tether image."""
    ns = f"{prefix}-{secrets.token_hex(3)}"
    kubectl("create", "namespace", ns)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": PULL_SECRET, "namespace": ns},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config).decode()},
    }
    kubectl("apply", "-f", "-", input=json.dumps(secret))
    return ns


def explain_failure(kubectl: Callable[..., str], ns: str, what: str) -> str:
    pods = kubectl("-n", ns, "get", "pods", "-o", "wide", check=False)
    events = kubectl("-n", ns, "get", "events", check=False)
    logs = kubectl("-n", ns, "logs", "deploy/tether-controller", "--tail=40", check=False)
    return f"{what}\n{pods}\n{events}\n{logs}"


@pytest.fixture
def tether_installed(
    real_node_cluster: localcluster.ClusterState,
    real_kubectl: Callable[..., str],
    tether_image: tuple[str, bytes],
    tmp_path: Path,
) -> Iterator[str]:
    """The controller installed by `tether install --controller` in a fresh namespace,
    both Pods Ready."""
    ref, config = tether_image
    ns = namespace_with_pull_secret(real_kubectl, "ti", config)
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps(pod_values(ref)))
    kubeconfig = real_node_cluster.kubeconfig
    done = subprocess.run(
        [
            *(TETHER, "install", "--controller", f"--values={values}"),
            *(f"--kubeconfig={kubeconfig}", f"--app-namespace={ns}"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rolled = real_kubectl(
        "-n", ns, "rollout", "status", "deploy/tether-controller", "--timeout=5m", check=False
    )
    if "successfully rolled out" not in rolled:
        pytest.fail(explain_failure(real_kubectl, ns, f"tether install: {rolled}"))
    try:
        yield ns
    finally:
        real_kubectl("delete", "namespace", ns, "--wait=false", check=False)
        real_kubectl(
            "delete",
            "clusterrolebinding",
            f"{ns}-controller",
            f"{ns}-deployer",
            "--ignore-not-found",
            check=False,
        )
        # Shared by every `tether install` of the cluster; gone so that a later
        # `helm install` of the chart may own it.
        real_kubectl("delete", "clusterrole", "tether-controller", "--ignore-not-found")


@pytest.fixture
def release(
    real_node_cluster: localcluster.ClusterState,
    real_kubectl: Callable[..., str],
    tether_image: tuple[str, bytes],
    tmp_path: Path,
) -> Iterator[str]:
    """The chart installed by helm (--wait: both Pods Ready) in a fresh namespace."""
    ref, config = tether_image
    ns = namespace_with_pull_secret(real_kubectl, "tp", config)
    values = tmp_path / "values.json"
    values.write_text(json.dumps(pod_values(ref)))
    helm = [str(helm_path()), f"--kubeconfig={real_node_cluster.kubeconfig}", f"--namespace={ns}"]
    done = subprocess.run(
        [*helm, "install", "tether", str(CHART), f"--values={values}", "--wait", "--timeout=5m"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(explain_failure(real_kubectl, ns, f"helm install: {done.stderr}"))
    try:
        yield ns
    finally:
        subprocess.run([*helm, "uninstall", "tether", "--wait"], capture_output=True, check=False)
        real_kubectl("delete", "namespace", ns, "--wait=false", check=False)
