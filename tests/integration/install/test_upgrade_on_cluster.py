"""`tether upgrade` and the prune of `tether install --controller`, on the real control plane
(kwok nodes: the Deployment rolls, its Pods are pretended; test_controller_roll.py rolls
real Pods), and the UID precondition that keeps an object replaced while prune runs.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from incluster import CHART, HELM, TETHER, helm
from test_chart_on_cluster import IMAGE

from tether.adapters.kube import KubeClient
from tether.adapters.kube import config as kubeconfig
from tether.controller.install_prune import INSTALL_LABEL, prune_install
from tether.testenv import cluster as localcluster
from tether.testenv.binaries import helm_path

pytestmark = pytest.mark.skipif(
    not helm_path().exists(), reason="helm is installed by `make tools`"
)


def tether(
    cluster: localcluster.ClusterState, ns: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """The command's result, its output lines unwrapped (the console folds long lines)."""
    done = subprocess.run(
        [TETHER, *args, "--kubeconfig", cluster.kubeconfig, "--app-namespace", ns],
        capture_output=True,
        text=True,
        check=False,
        timeout=400,
        env={**os.environ, "COLUMNS": "400"},
    )
    return done


def service(name: str, ns: str, labels: dict[str, str]) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"ports": [{"port": 80}]},
        }
    )


def test_upgrade_rolls_the_controller_prunes_what_is_turned_off_and_keeps_the_rest(
    installed: localcluster.ClusterState, kubectl: Callable[..., str], app_namespace: str
) -> None:
    ns = app_namespace
    done = tether(installed, ns, "install", "--controller", "--image", IMAGE, "--set", "replicas=1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "applied PodDisruptionBudget tether-controller" in done.stdout
    # Not the install's: no label, or another install's label. Never pruned.
    kubectl(
        "apply", "-f", "-", input=service("by-hand", ns, {"app.kubernetes.io/part-of": "tether"})
    )
    other = {"app.kubernetes.io/part-of": "tether", "tether.dev/install": "elsewhere"}
    kubectl("apply", "-f", "-", input=service("other-install", ns, other))
    before = json.loads(kubectl("-n", ns, "get", "deployment", "tether-controller", "-o", "json"))

    done = tether(
        installed,
        ns,
        "upgrade",
        "--set",
        "podDisruptionBudget.enabled=false",
        "--set",
        "podAnnotations.rev=2",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pruned PodDisruptionBudget tether-controller" in done.stdout
    assert "rollout: 1 of 1 updated, 1 available, 0 old" in done.stdout
    assert "upgraded to 0.1.0 (registry.tether.test/tether:0.1.0): rolled out" in done.stdout
    assert kubectl("-n", ns, "get", "pdb", "--ignore-not-found", "-o", "name") == ""
    kept = kubectl("-n", ns, "get", "service", "-o", "name")
    assert "service/by-hand" in kept and "service/other-install" in kept
    assert "service/tether" in kept
    after = json.loads(kubectl("-n", ns, "get", "deployment", "tether-controller", "-o", "json"))
    assert after["spec"]["template"]["metadata"]["annotations"] == {"rev": "2"}
    assert after["spec"]["template"] != before["spec"]["template"]
    assert after["spec"]["replicas"] == 1  # the install's --set replicas=1 is kept

    # Nothing asked, nothing changed: no roll.
    done = tether(installed, ns, "upgrade")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no change to the Pods; nothing to roll" in done.stdout
    assert "pruned" not in done.stdout
    # --restart rolls anyway, and the next upgrade keeps its annotation.
    done = tether(installed, ns, "upgrade", "--restart")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ": rolled out" in done.stdout
    restarted = json.loads(
        kubectl("-n", ns, "get", "deployment", "tether-controller", "-o", "json")
    )
    annotations: dict[str, Any] = restarted["spec"]["template"]["metadata"]["annotations"]
    assert set(annotations) == {"rev", "tether.dev/restartedAt"}
    assert "nothing to roll" in tether(installed, ns, "upgrade").stdout

    # The same values through install: the PDB stays off only if asked again.
    done = tether(installed, ns, "install", "--controller", "--image", IMAGE, "--set", "replicas=1")
    assert done.returncode == 0, done.stderr
    assert "applied PodDisruptionBudget tether-controller" in done.stdout


def test_upgrade_refuses_a_helm_release_and_a_namespace_without_an_install(
    installed: localcluster.ClusterState, kubectl: Callable[..., str], app_namespace: str
) -> None:
    ns = app_namespace
    done = tether(installed, ns, "upgrade")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "tether install --controller" in done.stderr
    role = f"{ns}-controller"
    helm(
        installed,
        "install",
        "tether",
        str(CHART),
        f"--namespace={ns}",
        "--create-namespace",
        f"--set=image.ref={IMAGE}",
        f"--set=rbac.clusterRoleName={role}",
    )
    try:
        for args in (("upgrade",), ("install", "--controller", "--image", IMAGE)):
            done = tether(installed, ns, *args)
            assert done.returncode == 4, done.stdout + done.stderr
            assert "helm upgrade" in done.stderr.replace("\n", " ")
    finally:
        subprocess.run(
            [HELM, f"--kubeconfig={installed.kubeconfig}", "uninstall", "tether", f"-n={ns}"],
            capture_output=True,
            check=False,
        )


class ReplacingAfterList(KubeClient):
    """A client that, right after listing, replaces the listed Service by a new one of
    the same name: the race the UID precondition on prune is for."""

    async def list(self, api: Any, namespace: str | None = None, **kw: Any) -> Any:
        items, version = await super().list(api, namespace, **kw)
        for item in items:
            if item["kind"] == "Service":
                meta = item["metadata"]
                await super().delete("v1", "Service", meta["name"], meta["namespace"])
                await super().create(labelled_service(meta["name"], meta["namespace"]))
        return items, version


def labelled_service(name: str, ns: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/part-of": "tether", INSTALL_LABEL: ns}
    return json.loads(service(name, ns, labels))


async def test_prune_keeps_an_object_replaced_since_it_was_listed(
    installed: localcluster.ClusterState, namespace: str
) -> None:
    async with ReplacingAfterList(kubeconfig.load(installed.kubeconfig)) as kube:
        first = await kube.create(labelled_service("gone-soon", namespace))
        lines = await prune_install(kube, namespace, rendered=[])
        assert lines == ["Service gone-soon (replaced since it was listed: kept)"]
        now = await kube.get("v1", "Service", "gone-soon", namespace)
        assert now["metadata"]["uid"] != first["metadata"]["uid"]
    async with KubeClient.from_kubeconfig(installed.kubeconfig) as plain:
        assert await prune_install(plain, namespace, rendered=[]) == ["Service gone-soon"]
        assert await plain.get_or_none("v1", "Service", "gone-soon", namespace) is None
