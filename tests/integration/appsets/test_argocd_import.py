"""An Argo CD ApplicationSet manifest, loaded with ``tether appset create -f``, behaves as
the Tether-native one: the same Applications, synced the same way, removed the same way."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from appsets_helpers import Sets, condition, configmap, synced_and_healthy

TETHER = str(Path(sys.executable).with_name("tether"))


async def tether(kubeconfig: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        TETHER,
        "appset",
        *args,
        "--kubeconfig",
        kubeconfig,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, COLUMNS="200", NO_COLOR="1"),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return int(proc.returncode or 0), out.decode(), err.decode()


def spec_for(repo_url: str, prefix: str, *, argocd: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": prefix + "-{{.path.basename}}"}
    destination: dict[str, Any] = {"namespace": prefix + "-{{.path.basename}}"}
    options = ["CreateNamespace=true"]
    if argocd:  # what Argo CD users write
        meta["namespace"] = "argocd"
        meta["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
        destination["name"] = "in-cluster"
        options.append("ServerSideApply=true")
    else:
        destination["server"] = "https://kubernetes.default.svc"
    return {
        "goTemplate": True,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [
            {"git": {"repoURL": repo_url, "revision": "main", "directories": [{"path": "apps/*"}]}}
        ],
        "template": {
            "metadata": meta,
            "spec": {
                "project": "default",
                "source": {"repoURL": repo_url, "targetRevision": "main", "path": "{{.path.path}}"},
                "destination": destination,
                "syncPolicy": {
                    "automated": {"prune": True, "selfHeal": True},
                    "syncOptions": options,
                },
            },
        },
        "syncPolicy": {"applicationsSync": "sync"},
    }


async def test_an_argocd_applicationset_behaves_as_the_tether_one(
    git_repo: Any, sets: Sets, kubeconfig: str, tmp_path: Path
) -> None:
    git_repo.commit(
        {"apps/alpha/cm.yaml": configmap("alpha"), "apps/beta/cm.yaml": configmap("beta")}
    )
    argo, native = sets.name("argo"), sets.name("native")
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": argo, "namespace": "argocd"},
        "spec": spec_for(git_repo.git_url, argo, argocd=True),
    }
    path = tmp_path / "appset.yaml"
    path.write_text(yaml.safe_dump(manifest))
    code, out, err = await tether(kubeconfig, "create", "-f", str(path))
    assert code == 0, err
    sets.created.append(argo)
    await sets.create(native, spec_for(git_repo.git_url, native, argocd=False))

    imported = await sets.get(argo)
    assert imported["apiVersion"] == "tether.dev/v1alpha1"
    assert imported["metadata"]["namespace"] == "tether"

    found = {}
    for name in (argo, native):
        found[name] = await sets.wait_apps(name, {f"{name}-alpha", f"{name}-beta"})
    for folder in ("alpha", "beta"):
        a, n = found[argo][f"{argo}-{folder}"], found[native][f"{native}-{folder}"]
        assert json.dumps(a["spec"]).replace(argo, "X") == json.dumps(n["spec"]).replace(
            native, "X"
        )
        assert a["metadata"]["namespace"] == "tether"
        assert "finalizers" not in a["metadata"]
    for name in (argo, native):
        for folder in ("alpha", "beta"):
            await sets.wait_app(f"{name}-{folder}", synced_and_healthy, "Synced and Healthy")

    git_repo.commit({"apps/beta": None}, message="remove beta")
    for name in (argo, native):
        await sets.wait_apps(name, {f"{name}-alpha"})

    code, out, _ = await tether(kubeconfig, "list", "-o", "json")
    listed = {row["name"]: row for row in json.loads(out)}
    assert listed[argo]["applications"] == 1 and listed[argo]["error"] == ""
    code, out, _ = await tether(kubeconfig, "get", argo, "-o", "json")
    assert condition(json.loads(out)["status"], "ErrorOccurred")["status"] == "False"

    # deleting the set deletes the apps it owns; their resources stay
    code, _, err = await tether(kubeconfig, "delete", argo)
    assert code == 0, err
    await sets.wait_apps(argo, set(), "the apps deleted with their set")
    assert await sets.kube.get_or_none("v1", "ConfigMap", "alpha", f"{argo}-alpha") is not None


async def test_unsupported_argocd_fields_are_refused_by_name(
    git_repo: Any, sets: Sets, kubeconfig: str, tmp_path: Path
) -> None:
    spec = spec_for(git_repo.git_url, "x", argocd=True)
    spec["templatePatch"] = "spec: {}"
    spec["generators"].append({"pullRequest": {"github": {"owner": "o", "repo": "r"}}})
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": sets.name("refused"), "namespace": "argocd"},
        "spec": spec,
    }
    path = tmp_path / "appset.yaml"
    path.write_text(yaml.safe_dump(manifest))
    code, _, err = await tether(kubeconfig, "create", "-f", str(path))
    assert code == 1
    assert "spec.templatePatch: not supported by Tether" in err
    assert "spec.generators.1.pullRequest: not supported by Tether" in err
    assert (
        await sets.kube.get_or_none(
            "tether.dev/v1alpha1", "ApplicationSet", sets.name("refused"), "tether"
        )
        is None
    )
