"""``tether app`` as a user runs it: a subprocess against the real cluster.

The controller runs in the test's event loop, so the CLI is started with
asyncio subprocesses (a blocking call would freeze the controller too).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.tether import Apps, example_files
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.runtime import Controller
from tether.engine import application as appmodel

TETHER = str(Path(sys.executable).with_name("tether"))
DEPLOYMENT = "apps/finance/deployment.yaml"
EXIT_DIFF, EXIT_NOT_FOUND, EXIT_REFUSED = 2, 3, 4


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig

    async def __call__(self, *args: str, code: int | None = 0) -> Result:
        env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
        proc = await asyncio.create_subprocess_exec(
            TETHER,
            "app",
            *args,
            "--kubeconfig",
            self.kubeconfig,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        result = Result(int(proc.returncode or 0), out.decode(), err.decode())
        if code is not None:
            assert result.code == code, f"tether app {' '.join(args)} -> {result}"
        return result


@pytest.fixture
def cli(kubeconfig: str, controller: Controller) -> Cli:
    return Cli(kubeconfig)


async def _synced_healthy(apps: Apps, name: str) -> dict[str, Any]:
    return await apps.wait_synced(name, healthy=True)


async def test_create_from_flags_then_list_get_wait_history_tree_and_explain(
    cli: Cli, git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    git_repo.commit(example_files(), message="finance app")
    name = "cli-flags"
    apps.created.append(name)
    created = await cli(
        "create",
        name,
        "--repo",
        git_repo.git_url,
        "--path",
        "apps/finance",
        "--revision",
        "main",
        "--dest-namespace",
        dest_namespace,
        "--auto-sync",
        "--self-heal",
        "--prune",
        "--create-namespace",
    )
    assert f"application {name} created" in created.out
    again = await cli(
        "create",
        name,
        "--repo",
        git_repo.git_url,
        "--dest-namespace",
        dest_namespace,
        code=EXIT_REFUSED,
    )
    assert "already exists" in again.err

    waited = await cli("wait", name, "--timeout", "60")
    assert "Synced" in waited.out and "Healthy" in waited.out

    listed = (await cli("list", "-o", "json")).json()
    mine = next(a for a in listed if a["metadata"]["name"] == name)
    assert mine["status"]["sync"]["status"] == "Synced"

    app = (await cli("get", name, "-o", "json")).json()
    st = app["status"]
    for key in (
        "sync",
        "health",
        "resources",
        "operationState",
        "history",
        "conditions",
        "observedGeneration",
        "reconciledAt",
    ):
        assert key in st, f"status.{key} missing from `tether app get -o json`"
    assert st["observedGeneration"] == app["metadata"]["generation"]
    assert {r["kind"] for r in st["resources"]} == {"ConfigMap", "Deployment", "Service"}
    table = await cli("get", name)
    assert "finance-api" in table.out and "Synced" in table.out

    history = (await cli("history", name, "-o", "json")).json()
    assert [(h["id"], h["message"]) for h in history] == [(1, "finance app")]

    tree = (await cli("tree", name, "-o", "json")).json()
    kinds = {n["kind"] for n in tree["nodes"]}
    assert {"Deployment", "ReplicaSet", "Pod", "Service", "ConfigMap"} <= kinds

    explained = await cli("explain", name)
    assert explained.out.strip()
    assert (await cli("explain", name, "-o", "json")).json()["text"]


async def test_create_from_an_argocd_manifest_and_refuse_unsupported_fields(
    cli: Cli, git_repo: Any, apps: Apps, dest_namespace: str, tmp_path: Path
) -> None:
    git_repo.commit(example_files())
    manifest: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "cli-argo", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": git_repo.git_url,
                "path": "apps/finance",
                "targetRevision": "main",
            },
            "destination": {
                "server": "https://kubernetes.default.svc",
                "namespace": dest_namespace,
            },
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
            },
        },
    }
    good = tmp_path / "argo.yaml"
    good.write_text(yaml.safe_dump(manifest))
    apps.created.append("cli-argo")
    await cli("create", "-f", str(good))
    await _synced_healthy(apps, "cli-argo")
    spec = (await apps.get("cli-argo"))["spec"]
    assert spec["source"]["repoURL"] == git_repo.git_url
    assert spec["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]

    bad_manifest = json.loads(json.dumps(manifest))
    bad_manifest["metadata"]["name"] = "cli-argo-multi"
    bad_manifest["spec"]["info"] = [{"name": "owner", "value": "payments"}]
    bad_manifest["spec"]["source"] |= {"plugin": {"name": "cmp"}}
    bad = tmp_path / "argo-bad.yaml"
    bad.write_text(yaml.safe_dump(bad_manifest))
    refused = await cli("create", "-f", str(bad), code=None)
    assert refused.code != 0
    assert "spec.info" in refused.err and "spec.source.plugin" in refused.err, refused
    assert "Traceback" not in refused.err, refused.err
    assert (
        await apps.kube.get_or_none(appmodel.API_VERSION, appmodel.KIND, "cli-argo-multi", "tether")
        is None
    )


async def test_diff_exit_code_sync_and_unknown_app(
    cli: Cli, git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = "cli-manual"
    apps.created.append(name)
    await cli(
        "create",
        name,
        "--repo",
        git_repo.git_url,
        "--path",
        "apps/finance",
        "--revision",
        "main",
        "--dest-namespace",
        dest_namespace,
        "--create-namespace",
    )
    await apps.wait(name, lambda s: s.get("sync", {}).get("status") == "OutOfSync", "OutOfSync")

    diff = await cli("diff", name, "--exit-code", code=EXIT_DIFF)
    assert "finance-api" in diff.out
    assert (await cli("diff", name, "-o", "json", code=0)).json()

    synced = await cli("sync", name)
    assert "Succeeded" in synced.out
    await apps.wait_synced(name)
    clean = await cli("diff", name, "--exit-code")
    assert "no differences" in clean.out

    missing = await cli("get", "no-such-app", code=EXIT_NOT_FOUND)
    assert "no-such-app" in missing.err
    await cli("sync", "no-such-app", code=EXIT_NOT_FOUND)


async def test_rollback_resume_and_delete_resource_guard(
    cli: Cli, git_repo: Any, apps: Apps, kube: KubeClient, dest_namespace: str
) -> None:
    files = example_files()
    git_repo.commit(files, message="1.4")
    name = "cli-rollback"
    apps.created.append(name)
    await cli(
        "create",
        name,
        "--repo",
        git_repo.git_url,
        "--path",
        "apps/finance",
        "--revision",
        "main",
        "--dest-namespace",
        dest_namespace,
        "--auto-sync",
        "--self-heal",
        "--prune",
        "--create-namespace",
    )
    await _synced_healthy(apps, name)
    git_repo.commit(
        {DEPLOYMENT: files[DEPLOYMENT].replace("finance-api:1.4", "finance-api:1.5")}, message="1.5"
    )

    api = await kube.resource_for("apps/v1", "ReplicaSet")

    async def two_deploys() -> bool:
        # The history entry is written with the sync's result, while the health may still
        # be 1.4's: the 1.5 ReplicaSet must exist before 1.4's counts as rollout history.
        st = await apps.status(name)
        if len(st.get("history") or []) != 2 or st["health"]["status"] != "Healthy":
            return False
        rss, _ = await kube.list(api, dest_namespace)
        return any(_image(rs).endswith(":1.5") for rs in rss)

    await await_for(two_deploys, what="the 1.5 rollout")

    rss, _ = await kube.list(api, dest_namespace)
    old = next(rs for rs in rss if _image(rs).endswith(":1.4"))
    old_name = old["metadata"]["name"]
    refused = await cli("delete-resource", name, f"ReplicaSet/{old_name}", code=EXIT_REFUSED)
    assert "kept as revision 1 for rollback" in refused.err, refused

    rolled = await cli("rollback", name)
    assert "Succeeded" in rolled.out and "resume" in rolled.out
    dep = await kube.get("apps/v1", "Deployment", "finance-api", dest_namespace)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.4")
    assert appmodel.PAUSE_ANNOTATION in (await apps.get(name))["metadata"]["annotations"]

    await cli("resume", name)

    async def back_on_15() -> bool:
        dep = await kube.get("apps/v1", "Deployment", "finance-api", dest_namespace)
        return bool(dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.5"))

    await await_for(back_on_15, what="auto-sync back on 1.5 after resume")
    await _synced_healthy(apps, name)

    rss, _ = await kube.list(api, dest_namespace)
    old = next(rs for rs in rss if _image(rs).endswith(":1.4"))
    forced = await cli("delete-resource", name, f"ReplicaSet/{old['metadata']['name']}", "--force")
    assert "deleted ReplicaSet" in forced.out
    await cli("delete-resource", name, "ReplicaSet", code=2)  # usage error: no NAME


async def test_delete_with_cascade_removes_the_app_and_its_objects(
    cli: Cli, git_repo: Any, apps: Apps, kube: KubeClient, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = "cli-cascade"
    await cli(
        "create",
        name,
        "--repo",
        git_repo.git_url,
        "--path",
        "apps/finance",
        "--revision",
        "main",
        "--dest-namespace",
        dest_namespace,
        "--auto-sync",
        "--create-namespace",
    )
    await apps.wait_synced(name)
    deleted = await cli("delete", name, "--cascade")
    assert "with 3 objects" in deleted.out

    async def gone() -> bool:
        app = await kube.get_or_none(appmodel.API_VERSION, appmodel.KIND, name, "tether")
        dep = await kube.get_or_none("apps/v1", "Deployment", "finance-api", dest_namespace)
        cm = await kube.get_or_none("v1", "ConfigMap", "finance-api-config", dest_namespace)
        return (
            app is None
            and cm is None
            and (dep is None or bool(dep["metadata"].get("deletionTimestamp")))
        )

    await await_for(gone, what="the app and its objects deleted")
    await cli("delete", name, code=EXIT_NOT_FOUND)


def _image(replica_set: dict[str, Any]) -> str:
    return str(replica_set["spec"]["template"]["spec"]["containers"][0]["image"])
