"""`tether uninstall` on the real control plane (kwok nodes: the controller's Pods are
pretended): what `tether install --controller` made goes, what people wrote stays."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable

import pytest
from incluster import CHART, HELM, TETHER, helm
from test_chart_on_cluster import IMAGE

from tether.adapters.kube import KubeClient
from tether.controller import uninstall
from tether.controller.install import crds
from tether.testenv import cluster as localcluster
from tether.testenv.binaries import helm_path

pytestmark = pytest.mark.skipif(
    not helm_path().exists(), reason="helm is installed by `make tools`"
)
PART_OF = {"app.kubernetes.io/part-of": "tether"}


def tether(
    cluster: localcluster.ClusterState, ns: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TETHER, *args, "--kubeconfig", cluster.kubeconfig, "--app-namespace", ns],
        capture_output=True,
        text=True,
        check=False,
        timeout=400,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "400"},
    )


def apply(kubectl: Callable[..., str], obj: dict[str, object]) -> None:
    kubectl("apply", "-f", "-", input=json.dumps(obj))


def lease(name: str, ns: str, labels: dict[str, str]) -> dict[str, object]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"holderIdentity": "tether-controller-abc"},
    }


def application(ns: str) -> dict[str, object]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "kept", "namespace": ns},
        "spec": {
            "source": {"repoURL": "https://git.example.com/apps.git", "path": "apps"},
            "destination": {"namespace": "default"},
        },
    }


def left(kubectl: Callable[..., str], ns: str) -> set[str]:
    listing = json.loads(
        kubectl(
            "-n",
            ns,
            "get",
            "deployment,service,serviceaccount,role,rolebinding,lease,secret,pdb,"
            "applications.tether.dev,projects.tether.dev",
            "-o",
            "json",
        )
    )
    return {f"{o['kind']}/{o['metadata']['name']}" for o in listing["items"]}


def test_uninstall_removes_the_install_and_keeps_applications_projects_and_crds(
    installed: localcluster.ClusterState, kubectl: Callable[..., str], app_namespace: str
) -> None:
    ns = app_namespace
    done = tether(installed, ns, "install", "--controller", "--image", IMAGE, "--set", "replicas=1")
    assert done.returncode == 0, done.stdout + done.stderr
    apply(kubectl, application(ns))
    apply(kubectl, lease("tether-controller", ns, {}))
    apply(kubectl, lease("tether-shard-pod-1", ns, PART_OF))
    apply(kubectl, lease("someone-else", ns, {}))
    by_hand = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "by-hand", "namespace": ns, "labels": PART_OF},
        "spec": {"ports": [{"port": 80}]},
    }
    apply(kubectl, by_hand)

    asked = tether(installed, ns, "uninstall")
    assert asked.returncode == 1, asked.stdout + asked.stderr
    assert "pass --yes" in asked.stderr
    assert "  Deployment tether-controller" in asked.stdout
    assert "Deployment/tether-controller" in left(kubectl, ns), "removed without --yes"

    done = tether(installed, ns, "uninstall", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    for line in (
        "removed Deployment tether-controller",
        "removed Service tether",
        f"removed ClusterRoleBinding {ns}-controller",
        f"removed ClusterRoleBinding {ns}-deployer",
        "removed Lease tether-controller",
        "removed Lease tether-shard-pod-1",
        "removed Secret tether-install",
    ):
        assert line in done.stdout, done.stdout
    # The session's own install (namespace tether) binds the shared ClusterRole.
    assert "kept ClusterRole tether-controller (bound by ClusterRoleBinding" in done.stdout
    assert left(kubectl, ns) == {
        "Application/kept",
        "Project/default",
        "Service/by-hand",
        "Lease/someone-else",
        "ServiceAccount/default",  # the namespace's own
    }
    bindings = kubectl("get", "clusterrolebinding", "-o", "name")
    assert f"/{ns}-controller" not in bindings and f"/{ns}-deployer" not in bindings
    assert kubectl("get", "clusterrole", "tether-controller", "-o", "name").strip()
    for crd in crds():
        assert kubectl("get", "crd", crd["metadata"]["name"], "-o", "name").strip()
    assert kubectl("get", "namespace", ns, "-o", "name").strip()

    again = tether(installed, ns, "uninstall", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"nothing of a tether install in namespace {ns}" in again.stdout


async def test_the_crds_are_removed_only_when_asked(
    installed: localcluster.ClusterState, kube: KubeClient, app_namespace: str
) -> None:
    names = {crd["metadata"]["name"] for crd in crds()}
    without = await uninstall.plan(kube, app_namespace)
    with_crds = await uninstall.plan(kube, app_namespace, with_crds=True)
    assert not {t.name for t in without.remove} & names
    assert {t.name for t in with_crds.remove if t.kind == "CustomResourceDefinition"} == names


def test_uninstall_refuses_a_helm_release(
    installed: localcluster.ClusterState, kubectl: Callable[..., str], app_namespace: str
) -> None:
    ns = app_namespace
    helm(
        installed,
        "install",
        "tether",
        str(CHART),
        f"--namespace={ns}",
        "--create-namespace",
        f"--set=image.ref={IMAGE}",
        f"--set=rbac.clusterRoleName={ns}-controller",
    )
    try:
        done = tether(installed, ns, "uninstall", "--yes")
        assert done.returncode == 4, done.stdout + done.stderr
        assert "helm uninstall tether" in done.stderr.replace("\n", " ")
        assert "Deployment/tether-controller" in left(kubectl, ns)
    finally:
        subprocess.run(
            [HELM, f"--kubeconfig={installed.kubeconfig}", "uninstall", "tether", f"-n={ns}"],
            capture_output=True,
            check=False,
        )
