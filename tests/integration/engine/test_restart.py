"""kill -9 the controller in the middle of a sync: after a restart nothing is lost.

The controller runs as the real ``tether controller`` process. The app holds a
CRD and 30 ConfigMaps; the sync applies the CRD first and waits for it to be
Established before anything else, which is the window the kill lands in.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from fixtures.tether import APP_NS, CRDS_ALLOWED, Projects
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.engine import application as appmodel
from tether.testenv import cluster as localcluster

TETHER = str(Path(sys.executable).with_name("tether"))
COUNT = 30


class ControllerProcess:
    def __init__(self, kubeconfig: str, log: Path) -> None:
        self.kubeconfig, self.log = kubeconfig, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    TETHER,
                    "controller",
                    "--kubeconfig",
                    self.kubeconfig,
                    "--poll",
                    "2",
                    "--allow-cluster-admin",  # the app's CRD is deployed by the controller
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
async def controller_process(
    installed: localcluster.ClusterState, tmp_path: Path
) -> AsyncIterator[Callable[[], ControllerProcess]]:
    made: list[ControllerProcess] = []

    def make() -> ControllerProcess:
        made.append(ControllerProcess(installed.kubeconfig, tmp_path / "controller.log"))
        return made[-1]

    yield make
    for proc in made:
        proc.stop()


async def _config_maps(kube: KubeClient, ns: str) -> set[str]:
    api = await kube.resource_for("v1", "ConfigMap")
    items, _ = await kube.list(api, ns)
    return {o["metadata"]["name"] for o in items if o["metadata"]["name"].startswith("cm-")}


async def test_kill_9_mid_sync_then_restart_converges_with_nothing_lost(
    git_repo: Any,
    kube: KubeClient,
    controller_process: Callable[[], ControllerProcess],
    dest_namespace: str,
    tmp_path: Path,
    make_project: Projects,
) -> None:
    group = f"r{secrets.token_hex(4)}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"ledgers.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "ledgers", "singular": "ledger", "kind": "Ledger"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    files = {
        f"apps/many/cm-{i:02d}.yaml": json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cm-{i:02d}"},
                "data": {"index": str(i)},
            }
        )
        for i in range(COUNT)
    }
    files["apps/many/crd.yaml"] = json.dumps(crd)
    git_repo.commit(files, message="thirty config maps and a CRD")
    name = f"restart-{secrets.token_hex(3)}"
    await kube.create(
        {
            "apiVersion": appmodel.API_VERSION,
            "kind": appmodel.KIND,
            "metadata": {"name": name, "namespace": APP_NS},
            "spec": {
                "source": {
                    "repoURL": git_repo.git_url,
                    "path": "apps/many",
                    "targetRevision": "main",
                },
                "destination": {"namespace": dest_namespace},
                "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
                "project": await make_project.create(clusterResourceWhitelist=CRDS_ALLOWED),
            },
        }
    )
    first = controller_process()
    try:
        first.start()

        async def status() -> dict[str, Any]:
            app = await kube.get(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
            return dict(app.get("status") or {})

        async def seen() -> bool:
            return (await status()).get("sync", {}).get("status") == "OutOfSync"

        await await_for(seen, what="the controller to compare the app")
        await kube.merge_patch(
            appmodel.API_VERSION,
            appmodel.KIND,
            name,
            {"operation": {"sync": {}, "initiatedBy": {"username": "tester"}}},
            APP_NS,
        )

        async def crd_applied() -> bool:
            return (
                await kube.get_or_none(
                    "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"ledgers.{group}"
                )
                is not None
            )

        deadline = asyncio.get_running_loop().time() + 60
        while not await crd_applied():
            assert asyncio.get_running_loop().time() < deadline, "the sync never started"
            await asyncio.sleep(0.01)
        first.kill9()

        app = await kube.get(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
        assert app.get("operation") is not None, "the kill was meant to land mid-sync"
        before = await _config_maps(kube, dest_namespace)
        assert len(before) < COUNT

        second = controller_process()
        second.start()

        async def converged() -> dict[str, Any] | None:
            app = await kube.get(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
            st = app.get("status") or {}
            done = (
                app.get("operation") is None
                and (st.get("operationState") or {}).get("phase") == "Succeeded"
                and st.get("sync", {}).get("status") == "Synced"
            )
            return st if done else None

        st = await await_for(converged, what="the operation to finish after the restart")
        assert await _config_maps(kube, dest_namespace) == {f"cm-{i:02d}" for i in range(COUNT)}
        assert st["operationState"]["initiatedBy"] == "tester"
        assert len(st["inventory"]) == COUNT + 1
        assert [h["initiatedBy"] for h in st["history"]] == ["tester"]
    finally:
        await kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
        await kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"ledgers.{group}")
        log = tmp_path / "controller.log"
        if log.exists():
            sys.stderr.write(log.read_text()[-3000:])
