"""The chart on the real control plane: server-side dry run, `tether install --controller`,
`helm install`, `helm upgrade` and `helm uninstall`.

The controller Pods cannot run here yet (kwok nodes pretend); these tests
check every object the API server is given. test_controller_pod.py runs the
Pods once a node runs containers.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from incluster import CHART, HELM, TETHER, helm, names

from tether.controller import install
from tether.testenv import cluster as localcluster
from tether.testenv.binaries import helm_path

IMAGE = "registry.tether.test/tether:0.1.0"


pytestmark = pytest.mark.skipif(
    not helm_path().exists(), reason="helm is installed by `make tools`"
)

# Namespaced kinds the chart creates, and cluster-scoped ones (listed by label).
NAMESPACED = "deployments,services,serviceaccounts,poddisruptionbudgets,roles,rolebindings"
CLUSTER = "clusterroles,clusterrolebindings"


def test_rendered_chart_passes_a_server_side_dry_run(
    installed: localcluster.ClusterState, kubectl: Callable[..., str], namespace: str
) -> None:
    rendered = install.render_chart(
        namespace,
        {"image": {"ref": IMAGE}, "rbac": {"clusterRoleName": f"{namespace}-controller"}},
        helm_path=HELM,
        include_crds=True,
    )
    manifest = yaml.safe_dump_all(rendered)
    out = kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", input=manifest)
    for kind in ("deployment.apps", "service", "poddisruptionbudget.policy", "project.tether.dev"):
        assert kind in out, out
    out = kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)
    assert "deployment.apps/tether-controller created (server dry run)" in out


def test_tether_install_controller_creates_the_deployment_and_its_rbac(
    installed: localcluster.ClusterState,
    kubectl: Callable[..., str],
    app_namespace: str,
) -> None:
    done = subprocess.run(
        [
            TETHER,
            "install",
            "--controller",
            "--image",
            IMAGE,
            "--set",
            "replicas=2",
            "--kubeconfig",
            installed.kubeconfig,
            "--app-namespace",
            app_namespace,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "applied Deployment tether-controller" in done.stdout
    assert "applied Project default" in done.stdout

    deploy = json.loads(
        kubectl("-n", app_namespace, "get", "deployment", "tether-controller", "-o", "json")
    )
    assert deploy["spec"]["replicas"] == 2
    (ctr,) = deploy["spec"]["template"]["spec"]["containers"]
    assert ctr["image"] == IMAGE
    assert "--leader-elect" in ctr["args"]
    assert f"--app-namespace={app_namespace}" in ctr["args"]
    created = names(kubectl, "-n", app_namespace, NAMESPACED)
    assert {
        "Deployment/tether-controller",
        "Service/tether",
        "PodDisruptionBudget/tether-controller",
        "ServiceAccount/tether-controller",
        "ServiceAccount/tether-deployer",
        "Role/tether-controller-leader-election",
        "RoleBinding/tether-controller-leader-election",
    } <= created
    binding = json.loads(
        kubectl("get", "clusterrolebinding", f"{app_namespace}-controller", "-o", "json")
    )
    assert binding["roleRef"]["name"] == install.CONTROLLER
    # The same install again changes nothing and fails on nothing.
    again = subprocess.run(done.args, capture_output=True, text=True, check=False, timeout=180)
    assert again.returncode == 0, again.stderr
    assert "applied Project default (kept as it is)" in again.stdout


def test_tether_install_image_without_controller_is_a_usage_error(
    installed: localcluster.ClusterState,
) -> None:
    done = subprocess.run(
        [TETHER, "install", "--image", IMAGE, "--kubeconfig", installed.kubeconfig],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "--controller" in done.stderr


def test_helm_install_upgrade_and_uninstall_leave_nothing_behind(
    installed: localcluster.ClusterState,
    kubectl: Callable[..., str],
    app_namespace: str,
) -> None:
    role = f"{app_namespace}-controller"
    selector = "app.kubernetes.io/instance=tether,app.kubernetes.io/part-of=tether"
    before_cluster = names(kubectl, CLUSTER, "-l", selector)
    helm(
        installed,
        "install",
        "tether",
        str(CHART),
        f"--namespace={app_namespace}",
        "--create-namespace",
        f"--set=image.ref={IMAGE}",
        f"--set=rbac.clusterRoleName={role}",
    )
    created = names(kubectl, "-n", app_namespace, NAMESPACED, "-l", selector)
    assert "Deployment/tether-controller" in created
    assert len(created) == 7, created
    added = names(kubectl, CLUSTER, "-l", selector) - before_cluster
    assert added == {
        f"ClusterRole/{role}",
        f"ClusterRoleBinding/{app_namespace}-controller",
        f"ClusterRoleBinding/{app_namespace}-deployer",
    }
    project = json.loads(
        kubectl("-n", app_namespace, "get", "projects.tether.dev", "default", "-o", "json")
    )
    assert project["spec"]["destinationServiceAccounts"][0]["defaultServiceAccount"] == (
        f"{app_namespace}:tether-deployer"
    )

    helm(
        installed,
        "upgrade",
        "tether",
        str(CHART),
        f"--namespace={app_namespace}",
        f"--set=image.ref={IMAGE}",
        f"--set=rbac.clusterRoleName={role}",
        "--set=replicas=3",
        "--set=podDisruptionBudget.enabled=false",
    )
    deploy = json.loads(
        kubectl("-n", app_namespace, "get", "deployment", "tether-controller", "-o", "json")
    )
    assert deploy["spec"]["replicas"] == 3
    after_upgrade = names(kubectl, "-n", app_namespace, NAMESPACED, "-l", selector)
    assert after_upgrade == created - {"PodDisruptionBudget/tether-controller"}

    helm(installed, "uninstall", "tether", f"--namespace={app_namespace}", "--wait")
    assert names(kubectl, "-n", app_namespace, NAMESPACED, "-l", selector) == set()
    assert names(kubectl, CLUSTER, "-l", selector) == before_cluster
    left: dict[str, Any] = json.loads(
        kubectl("-n", app_namespace, "get", "projects.tether.dev", "-o", "json")
    )
    assert left["items"] == []
    # Helm never deletes what crds/ installed: Applications outlive a chart removal.
    kubectl("get", "crd", "applications.tether.dev")
