"""``tether project`` and ``tether app create --project`` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.tether import APP_NS, Apps, condition
from tether.adapters.kube import KubeClient
from tether.controller.runtime import Controller
from tether.engine import projects

pytestmark = pytest.mark.cluster
TETHER = str(Path(sys.executable).with_name("tether"))


async def tether(kubeconfig: str, *args: str, code: int = 0) -> str:
    proc = await asyncio.create_subprocess_exec(
        TETHER,
        *args,
        "--kubeconfig",
        kubeconfig,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, COLUMNS="200", NO_COLOR="1"),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == code, f"tether {' '.join(args)}: {out.decode()}{err.decode()}"
    return out.decode() + err.decode()


async def test_project_commands_and_an_argocd_appproject(
    kubeconfig: str, kube: KubeClient, tmp_path: Path, installed: Any
) -> None:
    name = f"cli-{secrets.token_hex(3)}"
    argo = f"argo-{secrets.token_hex(3)}"
    try:
        await tether(
            kubeconfig,
            "project",
            "create",
            name,
            "--source-repo",
            "https://git.example.com/team/*",
            "--destination",
            "in-cluster,team-x-*",
            "--allow-cluster-resource",
            "/Namespace",
            "--service-account",
            "deployer",
        )
        spec = (await kube.get(projects.API_VERSION, projects.KIND, name, APP_NS))["spec"]
        assert spec["destinations"] == [{"name": "in-cluster", "namespace": "team-x-*"}]
        assert spec["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
        assert spec["destinationServiceAccounts"][0]["defaultServiceAccount"] == "deployer"
        manifest = tmp_path / "appproject.yaml"
        manifest.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "AppProject",
                    "metadata": {"name": argo, "namespace": "argocd"},
                    "spec": {
                        "sourceRepos": ["*"],
                        "destinations": [
                            {"server": "https://kubernetes.default.svc", "namespace": "team-y"}
                        ],
                        "roles": [{"name": "ci"}],
                        "syncWindows": [
                            {
                                "kind": "deny",
                                "schedule": "0 22 * * *",
                                "duration": "8h",
                                "applications": ["*"],
                                "manualSync": True,
                            }
                        ],
                    },
                }
            )
        )
        await tether(kubeconfig, "project", "create", "-f", str(manifest))
        listed = json.loads(await tether(kubeconfig, "project", "list", "-o", "json"))
        assert {name, argo} <= {p["name"] for p in listed}
        shown = yaml.safe_load(await tether(kubeconfig, "project", "get", argo))
        assert shown["spec"]["syncWindows"][0]["manualSync"] is True
        bad = tmp_path / "bad.yaml"
        bad.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "AppProject",
                    "metadata": {"name": "bad"},
                    "spec": {
                        "syncWindows": [{"kind": "deny", "schedule": "nightly", "duration": "1h"}]
                    },
                }
            )
        )
        out = await tether(kubeconfig, "project", "create", "-f", str(bad), code=1)
        assert "syncWindows.0.schedule" in out
        await tether(kubeconfig, "project", "delete", argo)
        assert await kube.get_or_none(projects.API_VERSION, projects.KIND, argo, APP_NS) is None
        await tether(kubeconfig, "project", "get", argo, code=3)
    finally:
        for n in (name, argo):
            await kube.delete(projects.API_VERSION, projects.KIND, n, APP_NS)


async def test_app_get_shows_the_project_and_a_sync_window_holding_it(
    kubeconfig: str,
    kube: KubeClient,
    controller: Controller,
    apps: Apps,
    git_repo: Any,
    dest_namespace: str,
) -> None:
    project = f"win-{secrets.token_hex(3)}"
    await kube.create(
        projects.new_project(
            project,
            APP_NS,
            {
                "sourceRepos": ["*"],
                "destinations": [{"server": "*", "namespace": dest_namespace}],
                "syncWindows": [
                    {
                        "kind": "deny",
                        "schedule": "* * * * *",
                        "duration": "1h",
                        "namespaces": [dest_namespace],
                    }
                ],
            },
        )
    )
    try:
        git_repo.commit({"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: w}\n"})
        app = f"held-{secrets.token_hex(3)}"
        await tether(
            kubeconfig,
            "app",
            "create",
            app,
            "--repo",
            git_repo.git_url,
            "--path",
            "app",
            "--revision",
            "main",
            "--dest-namespace",
            dest_namespace,
            "--create-namespace",
            "--auto-sync",
            "--project",
            project,
        )
        apps.created.append(app)
        await apps.wait(app, lambda s: condition(s, "SyncWindow") is not None, "SyncWindow")
        out = await tether(kubeconfig, "app", "get", app)
        assert f"project={project}" in out
        assert "SyncWindow" in out and "deny sync window" in out
    finally:
        await kube.delete(projects.API_VERSION, projects.KIND, project, APP_NS)
