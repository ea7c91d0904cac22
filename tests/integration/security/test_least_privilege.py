"""The controller runs with least privilege: never as cluster-admin by accident,
and as its own ServiceAccount it still deploys, through the project's deployer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.tether import APP_NS, condition, example_files
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.install import controller_kubeconfig, is_cluster_admin
from tether.controller.reconciler import Settings
from tether.controller.runtime import Controller
from tether.engine import application as appmodel
from tether.testenv import cluster as localcluster

pytestmark = pytest.mark.cluster
TETHER = str(Path(sys.executable).with_name("tether"))


def test_controller_refuses_to_start_as_cluster_admin(
    installed: localcluster.ClusterState, tmp_path: Path
) -> None:
    env = {**os.environ, "TETHER_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run(
        [TETHER, "controller", "--kubeconfig", installed.kubeconfig, "--poll", "5"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 4, proc.stderr
    assert "refusing to run as cluster-admin" in proc.stderr
    assert "--allow-cluster-admin" in proc.stderr


async def test_the_controller_service_account_is_not_cluster_admin_and_still_deploys(
    installed: localcluster.ClusterState,
    kube: KubeClient,
    tmp_path: Path,
    git_repo: Any,
    dest_namespace: str,
) -> None:
    config = tmp_path / "controller.kubeconfig"
    config.write_text(yaml.safe_dump(await controller_kubeconfig(kube, APP_NS, hours=1)))
    assert await is_cluster_admin(kube)
    sa = KubeClient.from_kubeconfig(str(config))
    try:
        assert not await is_cluster_admin(sa)
        # The controller itself cannot create cluster power...
        denied = await sa.create(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {
                    "resourceAttributes": {
                        "verb": "create",
                        "group": "rbac.authorization.k8s.io",
                        "resource": "clusterrolebindings",
                    }
                },
            }
        )
        assert denied["status"].get("allowed") is not True
        # ...but it deploys the finance app, impersonating the default project's deployer.
        await kube.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": dest_namespace}}
        )
        git_repo.commit(example_files())
        ctl = Controller(
            sa,
            settings=Settings(app_namespace=APP_NS, poll_interval=3.0),
            cache_dir=tmp_path / "cache",
            workers=2,
            registry_credentials=False,
        )
        await ctl.start()
        name = "least-priv"
        try:
            await kube.create(
                {
                    "apiVersion": appmodel.API_VERSION,
                    "kind": appmodel.KIND,
                    "metadata": {"name": name, "namespace": APP_NS},
                    "spec": {
                        "source": {
                            "repoURL": git_repo.git_url,
                            "path": "apps/finance",
                            "targetRevision": "main",
                        },
                        "destination": {"namespace": dest_namespace},
                        "syncPolicy": {"automated": {"prune": True}},
                    },
                }
            )

            async def synced() -> dict[str, Any] | None:
                app = await kube.get(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
                st = app.get("status") or {}
                ok = (st.get("sync") or {}).get("status") == "Synced" and (
                    st.get("operationState") or {}
                ).get("phase") == "Succeeded"
                return st if ok else None

            status = await await_for(synced, timeout=90, what="synced as the deployer")
            assert condition(status, "ProjectDenied") is None
            deployment = await kube.get("apps/v1", "Deployment", "finance-api", dest_namespace)
            managers = {m.get("manager") for m in deployment["metadata"]["managedFields"]}
            assert "tether" in managers
        finally:
            await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
            await ctl.stop()
    finally:
        await sa.close()
