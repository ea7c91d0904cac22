"""Tether managing its own install from Git, on a real node.

The chart charts/tether is pushed to a Git repository (a real git daemon the controller
Pods reach) and examples/self-managed/tether.yaml (a ServiceAccount for the syncs, a
Project reaching only Tether's namespace, and the Application `tether` with its Helm
values) is applied to an install made by `tether install --controller`. The in-cluster
controller adopts its own objects, and a commit that changes a chart value rolls the
controller that is syncing it: the Application ends Synced at that commit and Healthy,
every controller Pod is new, a new Pod holds the Lease, and `tether upgrade` refuses
to fight the Application.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from incluster import CHART, ROOT, TETHER, holder, pod_values, pods

from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.engine import application as appmodel
from tether.testenv import cluster as localcluster

pytestmark = pytest.mark.cluster
EXAMPLE = ROOT / "examples" / "self-managed" / "tether.yaml"


def chart_files() -> dict[str, str | bytes]:
    return {
        f"charts/tether/{path.relative_to(CHART)}": path.read_bytes()
        for path in sorted(CHART.rglob("*"))
        if path.is_file()
    }


def example_for(ns: str, repo_url: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The documented manifests, for this test's namespace, repository and image."""
    text = EXAMPLE.read_text()
    text = text.replace("https://git.example.com/platform/tether.git", repo_url)
    text = text.replace("namespace: tether\n", f"namespace: {ns}\n")
    text = text.replace("tether:tether-self-manager", f"{ns}:tether-self-manager")
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    for doc in docs:
        if doc["kind"] == "ClusterRoleBinding":
            doc["metadata"]["name"] = f"{ns}-self-manager"
        if doc["kind"] == "Application":
            documented = yaml.safe_load(doc["spec"]["source"]["helm"]["values"])
            doc["spec"]["source"]["helm"]["values"] = yaml.safe_dump({**documented, **values})
    return docs


async def test_tether_syncs_its_own_install_and_a_value_committed_rolls_it(
    real_node_cluster: localcluster.ClusterState,
    tether_installed: str,
    tether_image: tuple[str, bytes],
    real_kubectl: Callable[..., str],
    real_kube: KubeClient,
    git_repo: Any,
    pod_git_url: str,
) -> None:
    ns, kube = tether_installed, real_kube
    first = git_repo.commit(chart_files(), message="the tether chart")
    docs = example_for(ns, pod_git_url, pod_values(tether_image[0]))
    real_kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

    async def state(sha: str) -> dict[str, Any] | None:
        app = await kube.get(appmodel.API_VERSION, appmodel.KIND, "tether", ns)
        st = app.get("status") or {}
        sync, health = st.get("sync") or {}, st.get("health") or {}
        ok = (sync.get("status"), sync.get("revision"), health.get("status")) == (
            "Synced",
            sha,
            "Healthy",
        )
        return st if ok else None

    async def settled(sha: str, what: str) -> None:
        try:
            await await_for(lambda: state(sha), timeout=240, what=what)
        except AssertionError:
            app = await kube.get(appmodel.API_VERSION, appmodel.KIND, "tether", ns)
            logs = real_kubectl(
                "-n", ns, "logs", "deploy/tether-controller", "--tail=60", check=False
            )
            pytest.fail(f"{what}: {json.dumps(app.get('status'))[:4000]}\n{logs}")

    try:
        await settled(first, "the install adopted by its own Application, Synced and Healthy")
        deploy = json.loads(real_kubectl("-n", ns, "get", "deploy/tether-controller", "-o", "json"))
        assert deploy["metadata"]["labels"][appmodel.INSTANCE_LABEL] == "tether"
        old_pods = {p["metadata"]["name"] for p in pods(real_kubectl, ns)}

        values = (CHART / "values.yaml").read_text()
        assert "\npodAnnotations: {}\n" in values
        changed = values.replace("\npodAnnotations: {}\n", '\npodAnnotations:\n  rev: "2"\n')
        second = git_repo.commit({"charts/tether/values.yaml": changed}, message="roll")
        await settled(second, "the controller rolled by its own sync, Synced and Healthy")

        async def rolled() -> set[str] | None:
            names = {p["metadata"]["name"] for p in pods(real_kubectl, ns)}
            return names if len(names) == 2 and not names & old_pods else None

        new_pods = await await_for(rolled, timeout=120, what="every controller Pod replaced")
        deploy = json.loads(real_kubectl("-n", ns, "get", "deploy/tether-controller", "-o", "json"))
        assert deploy["spec"]["template"]["metadata"]["annotations"] == {"rev": "2"}

        async def new_leader() -> str | None:
            who = await holder(kube, ns)
            return who if who in new_pods else None

        await await_for(new_leader, timeout=30, what="a new controller Pod holding the Lease")
        assert await state(second), "still Synced and Healthy after the roll"

        refused = subprocess.run(
            [
                TETHER,
                "upgrade",
                f"--kubeconfig={real_node_cluster.kubeconfig}",
                f"--app-namespace={ns}",
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "COLUMNS": "400"},
        )
        assert refused.returncode == 4, refused.stdout + refused.stderr
        assert "managed by the Application 'tether'" in refused.stderr
    finally:
        # Without its finalizer the Application goes alone: the install stays, and the
        # fixture removes it with the namespace.
        await kube.delete(appmodel.API_VERSION, appmodel.KIND, "tether", ns)
        real_kubectl(
            "delete", "clusterrolebinding", f"{ns}-self-manager", "--ignore-not-found", check=False
        )


def test_the_documented_example_is_one_project_one_account_and_the_application() -> None:
    kinds = [doc["kind"] for doc in yaml.safe_load_all(EXAMPLE.read_text()) if doc]
    assert kinds == ["ServiceAccount", "ClusterRoleBinding", "Project", "Application"]
    assert Path(EXAMPLE).read_text().count("namespace: tether\n") == 7
