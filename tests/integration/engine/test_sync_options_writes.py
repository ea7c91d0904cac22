"""How sync options change what is written, each against the real API server.

Options come from the app (``spec.syncPolicy.syncOptions``) or from one object
(``argocd.argoproj.io/sync-options`` / ``tether.dev/sync-options``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from fixtures.tether import Apps, Projects, example_files
from tether.adapters.kube import KubeClient
from tether.controller.service import AppService, SyncRequest
from tether.engine import last_applied, sync_options

Kubectl = Callable[..., str]
CONFIGMAP = "apps/finance/configmap.yaml"
DEPLOYMENT = "apps/finance/deployment.yaml"
AUTO = {"prune": True, "selfHeal": True}
REPLICAS_IGNORED = [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]


def _edit(text: str, change: Callable[[dict[str, Any]], None]) -> str:
    obj = yaml.safe_load(text)
    change(obj)
    return str(yaml.safe_dump(obj))


def _annotated(text: str, annotation: str, value: str) -> str:
    def note(obj: dict[str, Any]) -> None:
        obj["metadata"].setdefault("annotations", {})[annotation] = value

    return _edit(text, note)


async def _cm(kube: KubeClient, ns: str) -> dict[str, Any]:
    return await kube.get("v1", "ConfigMap", "finance-api-config", ns)


async def _deployment(kube: KubeClient, ns: str) -> dict[str, Any]:
    return await kube.get("apps/v1", "Deployment", "finance-api", ns)


def _operations(obj: dict[str, Any], manager: str = "tether") -> set[str]:
    return {
        str(m.get("operation"))
        for m in obj["metadata"].get("managedFields") or []
        if m.get("manager") == manager
    }


async def test_replace_true_on_one_object_replaces_only_that_object(
    git_repo: Any, apps: Apps, service: AppService, kubectl: Kubectl, dest_namespace: str
) -> None:
    files = example_files()
    files[CONFIGMAP] = _annotated(files[CONFIGMAP], sync_options.ARGO_ANNOTATION, "Replace=true")
    git_repo.commit(files)
    name = await apps.create(git_repo.git_url, dest=dest_namespace)
    assert (await service.sync(name, SyncRequest(), initiated_by="t"))["phase"] == "Succeeded"
    for kind in ("configmap/finance-api-config", "deployment/finance-api"):
        kubectl("label", kind, "-n", dest_namespace, "added-by=hand")

    state = await service.sync(name, SyncRequest(), initiated_by="t")

    assert state["phase"] == "Succeeded", state
    cm = await _cm(apps.kube, dest_namespace)
    assert "added-by" not in cm["metadata"]["labels"], "a replace keeps nothing it was not given"
    assert "Apply" not in _operations(cm)
    deployment = await _deployment(apps.kube, dest_namespace)
    assert deployment["metadata"]["labels"]["added-by"] == "hand"
    assert "Apply" in _operations(deployment), "the other objects are server-side applied"


async def test_server_side_apply_false_writes_one_object_with_a_three_way_merge_patch(
    git_repo: Any, apps: Apps, kubectl: Kubectl, dest_namespace: str
) -> None:
    files = example_files()
    files[CONFIGMAP] = _annotated(
        files[CONFIGMAP], sync_options.TETHER_ANNOTATION, "ServerSideApply=false"
    )
    git_repo.commit(files)
    name = await apps.create(git_repo.git_url, dest=dest_namespace, automated=AUTO)
    await apps.wait_synced(name)
    cm = await _cm(apps.kube, dest_namespace)
    assert _operations(cm) == {"Update"}
    assert last_applied.last_applied(cm) is not None
    assert _operations(await _deployment(apps.kube, dest_namespace)) == {"Apply"}
    kubectl("label", "configmap/finance-api-config", "-n", dest_namespace, "added-by=hand")

    def drop_threshold(obj: dict[str, Any]) -> None:
        del obj["data"]["BUDGET_ALERT_THRESHOLD"]
        obj["data"]["LOG_LEVEL"] = "debug"

    sha = git_repo.commit({CONFIGMAP: _edit(files[CONFIGMAP], drop_threshold)})
    await apps.wait_synced(name, revision=sha)

    cm = await _cm(apps.kube, dest_namespace)
    assert cm["data"] == {"CURRENCY": "EUR", "LOG_LEVEL": "debug"}, "removed from Git: removed"
    assert cm["metadata"]["labels"]["added-by"] == "hand", "added by someone else: kept"
    assert _operations(cm) == {"Update"}


async def test_strict_validation_refuses_an_unknown_field_and_applies_nothing(
    git_repo: Any, apps: Apps, service: AppService, kube: KubeClient, dest_namespace: str
) -> None:
    files = example_files()
    files[CONFIGMAP] = _edit(files[CONFIGMAP], lambda o: o.update(bogusField="x"))
    git_repo.commit(files)
    name = await apps.create(git_repo.git_url, dest=dest_namespace)

    state = await service.sync(name, SyncRequest(), initiated_by="t")

    assert state["phase"] == "Failed", state
    assert "bogusField" in state["message"] and "nothing was applied" in state["message"]
    assert await kube.get_or_none("apps/v1", "Deployment", "finance-api", dest_namespace) is None


NAMESPACES_ALLOWED = [{"group": "", "kind": "Namespace"}]


def _with_namespace(files: dict[str, str], name: str) -> dict[str, str]:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    return files | {"apps/finance/namespace.yaml": yaml.safe_dump(namespace)}


@pytest.mark.parametrize("made_by", ["CreateNamespace", "Git"])
async def test_a_commit_refused_in_part_applies_nothing_in_a_namespace_it_creates(
    git_repo: Any,
    apps: Apps,
    service: AppService,
    kube: KubeClient,
    dest_namespace: str,
    make_project: Projects,
    made_by: str,
) -> None:
    """The comparison cannot dry-run in a namespace that does not exist yet (the API
    server refuses there before it validates): the sync creates the namespace (from
    the option, or the Namespace in the same commit), then dry-runs, then applies, so
    the bad Deployment (applied last) stops the ConfigMap and the Service too. A
    negative replica count is refused by validation, after the namespace check (an
    unknown field would be refused before it, by the apply's schema check)."""
    fresh = f"{dest_namespace}-{made_by.lower()}"
    files = example_files()
    files[DEPLOYMENT] = _edit(files[DEPLOYMENT], lambda o: o["spec"].update(replicas=-1))
    git_repo.commit(_with_namespace(files, fresh) if made_by == "Git" else files)
    try:
        if made_by == "CreateNamespace":
            name = await apps.create(git_repo.git_url, dest=fresh)
        else:  # a Namespace is cluster-scoped: only a project that lists it may deploy it
            project = await make_project.create(clusterResourceWhitelist=NAMESPACES_ALLOWED)
            name = await apps.create(
                git_repo.git_url, dest=fresh, options=[], extra={"project": project}
            )

        state = await service.sync(name, SyncRequest(), initiated_by="t")

        assert state["phase"] == "Failed", state
        assert "spec.replicas" in state["message"], state
        assert "nothing was applied" in state["message"], state
        assert await kube.get_or_none("v1", "ConfigMap", "finance-api-config", fresh) is None
        assert await kube.get_or_none("v1", "Service", "finance-api", fresh) is None
    finally:
        await kube.delete("v1", "Namespace", fresh)


async def test_a_namespace_git_renders_is_synced_with_what_it_holds(
    git_repo: Any,
    apps: Apps,
    service: AppService,
    kube: KubeClient,
    dest_namespace: str,
    make_project: Projects,
) -> None:
    fresh = f"{dest_namespace}-git-ok"
    git_repo.commit(_with_namespace(example_files(), fresh))
    project = await make_project.create(clusterResourceWhitelist=NAMESPACES_ALLOWED)
    try:
        name = await apps.create(
            git_repo.git_url, dest=fresh, options=[], extra={"project": project}
        )

        state = await service.sync(name, SyncRequest(), initiated_by="t")

        assert state["phase"] == "Succeeded", state
        assert await kube.get_or_none("v1", "ConfigMap", "finance-api-config", fresh) is not None
        st = await apps.wait_synced(name)
        assert {r["kind"] for r in st["resources"]} >= {"Namespace", "ConfigMap", "Deployment"}
    finally:
        await kube.delete("v1", "Namespace", fresh)


async def test_validate_false_lets_an_unknown_field_through(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    files = example_files()
    files[CONFIGMAP] = _annotated(
        _edit(files[CONFIGMAP], lambda o: o.update(bogusField="x")),
        sync_options.ARGO_ANNOTATION,
        "Validate=false",
    )
    git_repo.commit(files)
    name = await apps.create(git_repo.git_url, dest=dest_namespace)

    state = await service.sync(name, SyncRequest(), initiated_by="t")

    assert state["phase"] == "Succeeded", state
    cm = await _cm(apps.kube, dest_namespace)
    assert "bogusField" not in cm and cm["data"]["LOG_LEVEL"] == "info"
    st = await apps.wait_synced(name)
    assert {r["kind"]: r["status"] for r in st["resources"]}["ConfigMap"] == "Synced"


async def _scaled_by_hand_then_commit(
    git_repo: Any,
    apps: Apps,
    kubectl: Kubectl,
    ns: str,
    options: list[str],
    change: dict[str, str],
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """An app ignoring /spec/replicas, synced, scaled to 3 by another actor, then a
    commit: returns the app, the Deployment before the commit and its final state."""
    git_repo.commit(example_files())
    name = await apps.create(
        git_repo.git_url,
        dest=ns,
        automated=AUTO,
        options=["CreateNamespace=true", *options],
        extra={"ignoreDifferences": REPLICAS_IGNORED},
    )
    await apps.wait_synced(name)
    kubectl("scale", "deployment/finance-api", "--replicas=3", "-n", ns)
    before = await _deployment(apps.kube, ns)
    sha = git_repo.commit(change)
    st = await apps.wait_synced(name, revision=sha)
    assert st["operationState"]["revision"] == sha
    return st["operationState"]["message"], before, await _deployment(apps.kube, ns)


async def test_without_respect_ignore_differences_a_sync_writes_git_replicas_back(
    git_repo: Any, apps: Apps, kubectl: Kubectl, dest_namespace: str
) -> None:
    files = example_files()
    change = {CONFIGMAP: files[CONFIGMAP].replace("info", "debug")}
    _, _, after = await _scaled_by_hand_then_commit(
        git_repo, apps, kubectl, dest_namespace, [], change
    )
    assert after["spec"]["replicas"] == 1, "the diff ignores replicas, the apply does not"


async def test_respect_ignore_differences_keeps_replicas_set_by_an_autoscaler(
    git_repo: Any, apps: Apps, kubectl: Kubectl, dest_namespace: str
) -> None:
    files = example_files()
    change = {DEPLOYMENT: files[DEPLOYMENT].replace("finance-api:1.4", "finance-api:1.5")}
    _, _, after = await _scaled_by_hand_then_commit(
        git_repo, apps, kubectl, dest_namespace, ["RespectIgnoreDifferences=true"], change
    )
    container = after["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith("finance-api:1.5"), "the Deployment was applied"
    assert after["spec"]["replicas"] == 3, "with the autoscaler's replica count"


async def test_apply_out_of_sync_only_leaves_unchanged_objects_unwritten(
    git_repo: Any, apps: Apps, kubectl: Kubectl, dest_namespace: str
) -> None:
    files = example_files()
    change = {CONFIGMAP: files[CONFIGMAP].replace("info", "debug")}
    message, before, after = await _scaled_by_hand_then_commit(
        git_repo, apps, kubectl, dest_namespace, ["ApplyOutOfSyncOnly=true"], change
    )
    assert "applied 1" in message, message
    assert after["metadata"]["generation"] == before["metadata"]["generation"], "not written"
    assert after["spec"]["replicas"] == 3
    cm = await _cm(apps.kube, dest_namespace)
    assert cm["data"]["LOG_LEVEL"] == "debug"
