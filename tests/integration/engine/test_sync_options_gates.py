"""Sync options that decide whether a sync may go ahead, against the real API server."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import pytest
import yaml

from fixtures.tether import Apps, Projects, example_files
from tether.adapters.kube import KubeClient
from tether.controller.service import AppService, SyncRequest
from tether.engine import application as appmodel
from tether.engine import sync_options

AUTO = {"prune": True, "selfHeal": True}
CONFIGMAP = "apps/finance/configmap.yaml"


def _crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
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


def _widget(group: str, options: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "w1"}
    if options:
        meta["annotations"] = {sync_options.ARGO_ANNOTATION: options}
    return {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": meta, "spec": {"size": 3}}


async def test_a_resource_of_a_kind_the_cluster_does_not_serve_blocks_the_whole_sync(
    git_repo: Any, apps: Apps, service: AppService, kube: KubeClient, dest_namespace: str
) -> None:
    group = f"g{secrets.token_hex(4)}.example.com"
    widget = json.dumps(_widget(group, None))
    git_repo.commit(example_files() | {"apps/finance/widget.yaml": widget})
    name = await apps.create(git_repo.git_url, dest=dest_namespace)

    state = await service.sync(name, SyncRequest(), initiated_by="t")

    assert state["phase"] == "Failed", state
    assert "Widget" in state["message"] and "nothing was applied" in state["message"]
    assert await kube.get_or_none("v1", "ConfigMap", "finance-api-config", dest_namespace) is None


async def test_skip_dry_run_on_missing_resource_syncs_the_rest_then_the_resource_with_its_crd(
    git_repo: Any, apps: Apps, kube: KubeClient, dest_namespace: str, make_project: Projects
) -> None:
    group = f"g{secrets.token_hex(4)}.example.com"
    widget = json.dumps(_widget(group, "SkipDryRunOnMissingResource=true"))
    git_repo.commit(example_files() | {"apps/finance/widget.yaml": widget})
    retry = {"limit": 60, "backoff": {"duration": "1s", "factor": 1, "maxDuration": "1s"}}
    # A project without a ServiceAccount: the default one's may not write custom kinds.
    project = await make_project.create()
    name = await apps.create(
        git_repo.git_url,
        dest=dest_namespace,
        extra={
            "project": project,
            "syncPolicy": {
                "automated": AUTO,
                "syncOptions": ["CreateNamespace=true"],
                "retry": retry,
            },
        },
    )
    st = await apps.wait(
        name,
        lambda s: (s.get("operationState") or {}).get("phase") == "Failed",
        "the first sync fails on the Widget alone",
    )
    assert "Widget" in st["operationState"]["message"], st["operationState"]
    assert await kube.get_or_none("v1", "ConfigMap", "finance-api-config", dest_namespace)

    crd = _crd(group)  # installed by someone else, as an operator installs its CRDs
    await kube.create(crd)
    try:
        await apps.wait_synced(name)
        found = await kube.get(f"{group}/v1", "Widget", "w1", dest_namespace)
        assert found["spec"] == {"size": 3}
    finally:
        await kube.delete(crd["apiVersion"], crd["kind"], crd["metadata"]["name"])


async def test_fail_on_shared_resource_fails_the_sync_naming_the_other_apps_object(
    git_repo: Any, apps: Apps, kube: KubeClient, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    first = await apps.create(git_repo.git_url, dest=dest_namespace, automated=AUTO)
    await apps.wait_synced(first)
    second = await apps.create(
        git_repo.git_url,
        dest=dest_namespace,
        automated=AUTO,
        options=["CreateNamespace=true", "FailOnSharedResource=true"],
    )

    st = await apps.wait(
        second,
        lambda s: (s.get("operationState") or {}).get("phase") == "Failed",
        "the sync fails",
    )

    message = st["operationState"]["message"]
    assert f"belongs to app {first!r}" in message and "FailOnSharedResource=true" in message
    assert "nothing was applied" in message
    cm = await kube.get("v1", "ConfigMap", "finance-api-config", dest_namespace)
    assert cm["metadata"]["labels"][appmodel.INSTANCE_LABEL] == first


async def test_an_option_not_honoured_per_object_is_ignored_and_named_in_the_log(
    git_repo: Any,
    apps: Apps,
    service: AppService,
    dest_namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = example_files()
    cm = yaml.safe_load(files[CONFIGMAP])
    cm["metadata"]["annotations"] = {sync_options.ARGO_ANNOTATION: "Force=true,Prune=confirm"}
    git_repo.commit(files | {CONFIGMAP: yaml.safe_dump(cm)})
    name = await apps.create(git_repo.git_url, dest=dest_namespace)

    with caplog.at_level(logging.WARNING, logger="tether.controller.compare"):
        state = await service.sync(name, SyncRequest(), initiated_by="t")

    assert state["phase"] == "Succeeded", state
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "finance-api-config" in said and "Force=true" in said and "Prune=confirm" in said
