"""ApplicationSets under the controller's own least-privilege identity: it writes the set's
status, creates the apps, and deletes one with its resources through the project's deployer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from appsets_helpers import Sets, condition, configmap

from fixtures.tether import APP_NS
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.install import controller_kubeconfig
from tether.controller.reconciler import Settings
from tether.controller.runtime import Controller
from tether.testenv import cluster as localcluster


async def test_the_controller_service_account_runs_applicationsets(
    installed: localcluster.ClusterState, kube: KubeClient, tmp_path: Path, git_repo: Any
) -> None:
    config = tmp_path / "controller.kubeconfig"
    config.write_text(yaml.safe_dump(await controller_kubeconfig(kube, APP_NS, hours=1)))
    sa = KubeClient.from_kubeconfig(str(config))
    ctl = Controller(
        sa,
        settings=Settings(app_namespace=APP_NS, poll_interval=3.0),
        cache_dir=tmp_path / "cache",
        workers=2,
        registry_credentials=False,
    )
    sets = Sets(kube)
    git_repo.commit({"envs/a/cm.yaml": configmap("a"), "envs/b/cm.yaml": configmap("b")})
    name = sets.name("lp")
    spec = {
        "goTemplate": True,
        "generators": [{"list": {"elements": [{"env": "a"}, {"env": "b"}]}}],
        "template": {
            "metadata": {"name": name + "-{{.env}}"},
            "spec": {
                "source": {
                    "repoURL": git_repo.git_url,
                    "targetRevision": "main",
                    "path": "envs/{{.env}}",
                },
                "destination": {"namespace": name + "-{{.env}}"},
                "syncPolicy": {
                    "automated": {"prune": True},
                    "syncOptions": ["CreateNamespace=true"],
                },
            },
        },
        "syncPolicy": {"applicationsSync": "sync"},
    }
    await ctl.start()
    try:
        await sets.create(name, spec)
        await sets.wait_apps(name, {f"{name}-a", f"{name}-b"})
        st = await sets.wait_status(
            name, lambda s: s.get("applicationCount") == 2, "status written by the controller"
        )
        assert condition(st, "ErrorOccurred")["status"] == "False"

        async def deployed() -> bool:
            return await kube.get_or_none("v1", "ConfigMap", "b", f"{name}-b") is not None

        await await_for(deployed, timeout=90, what="b's ConfigMap deployed as the deployer")

        spec["generators"] = [{"list": {"elements": [{"env": "a"}]}}]
        await sets.patch(name, {"spec": {"generators": spec["generators"]}})
        await sets.wait_apps(name, {f"{name}-a"})

        async def gone() -> bool:
            return await kube.get_or_none("v1", "ConfigMap", "b", f"{name}-b") is None

        await await_for(gone, timeout=60, what="b's ConfigMap deleted with its app")
    finally:
        await ctl.stop()
        await sa.close()
        await sets.cleanup()
