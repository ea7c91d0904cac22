"""No takeover: an app never adopts, relabels or deletes an object that is not its own.

Each test is an attack on the real control plane: a repository that renders an
object someone else made, a second app that renders the first app's objects,
an object replaced or relabelled under an app before its prune or cascade
delete. Nothing of the attack is applied and the condition names the object
and its owner.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fixtures.tether import Apps, condition, example_files
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.service import ActionRefused, AppService
from tether.controller.sync import execute
from tether.engine import adoption
from tether.engine.objects import ObjectKey
from tether.engine.plan import SyncPlan

pytestmark = pytest.mark.cluster
Kubectl = Callable[..., str]
LABEL = "app.tether.dev/instance"
CONFIGMAP = "apps/finance/configmap.yaml"
TETHER = str(Path(sys.executable).with_name("tether"))


def _namespace(kubectl: Kubectl, name: str) -> None:
    kubectl("create", "namespace", name)


def _hand_made_configmap(kubectl: Kubectl, ns: str, labels: dict[str, str] | None = None) -> None:
    meta: dict[str, Any] = {"name": "finance-api-config", "namespace": ns}
    if labels:
        meta["labels"] = labels
    kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"owner": "ops"}}
        ),
    )


async def _cm(kube: KubeClient, ns: str, name: str = "finance-api-config") -> dict[str, Any]:
    return await kube.get("v1", "ConfigMap", name, ns)


async def test_an_unlabelled_object_in_git_is_refused_and_left_untouched(
    git_repo: Any, apps: Apps, kube: KubeClient, kubectl: Kubectl, dest_namespace: str
) -> None:
    _namespace(kubectl, dest_namespace)
    _hand_made_configmap(kubectl, dest_namespace)
    before = await _cm(kube, dest_namespace)
    files = example_files()
    name = "takeover-a"
    # The attacker's copy even claims consent for itself: only the live object's annotation counts.
    files[CONFIGMAP] = files[CONFIGMAP].replace(
        "  labels:", f"  annotations:\n    {adoption.ADOPT_ANNOTATION}: {name}\n  labels:", 1
    )
    git_repo.commit(files)
    await apps.create(
        git_repo.git_url,
        dest=dest_namespace,
        automated={"prune": True, "selfHeal": True},
        name=name,
    )

    def refused(st: dict[str, Any]) -> bool:
        return (st.get("operationState") or {}).get("phase") == "Failed"

    st = await apps.wait(name, refused, "the sync refused")
    message = (condition(st, "SyncError") or {}).get("message", "")
    assert (
        f"ConfigMap {dest_namespace}/finance-api-config exists and is not managed by any app"
        in message
    ), message
    assert "nothing was applied" in message
    after = await _cm(kube, dest_namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert LABEL not in (after["metadata"].get("labels") or {})
    assert after["data"] == {"owner": "ops"}
    # The commit is applied whole or not at all.
    assert await kube.get_or_none("apps/v1", "Deployment", "finance-api", dest_namespace) is None
    assert not st.get("inventory")
    row = next(r for r in st["resources"] if r["kind"] == "ConfigMap")
    assert "not managed by any app" in row.get("message", "")


async def test_adopt_existing_lets_the_app_adopt_an_unlabelled_object(
    git_repo: Any, apps: Apps, kube: KubeClient, kubectl: Kubectl, dest_namespace: str
) -> None:
    _namespace(kubectl, dest_namespace)
    _hand_made_configmap(kubectl, dest_namespace)
    git_repo.commit(example_files())
    name = await apps.create(
        git_repo.git_url,
        dest=dest_namespace,
        automated={"prune": True, "selfHeal": True},
        options=["AdoptExisting=true"],
    )
    await apps.wait_synced(name)
    after = await _cm(kube, dest_namespace)
    assert after["metadata"]["labels"][LABEL] == name
    assert after["data"]["CURRENCY"] == "EUR"


async def test_the_adopt_annotation_on_the_live_object_hands_it_to_exactly_that_app(
    git_repo: Any, apps: Apps, kube: KubeClient, kubectl: Kubectl, dest_namespace: str
) -> None:
    _namespace(kubectl, dest_namespace)
    _hand_made_configmap(kubectl, dest_namespace)
    name = "takeover-consent"
    kubectl(
        "annotate",
        "configmap",
        "finance-api-config",
        "-n",
        dest_namespace,
        f"{adoption.ADOPT_ANNOTATION}={name}",
    )
    git_repo.commit(example_files())
    await apps.create(git_repo.git_url, dest=dest_namespace, automated={}, name=name)
    await apps.wait_synced(name)
    assert (await _cm(kube, dest_namespace))["metadata"]["labels"][LABEL] == name


async def test_a_second_app_rendering_the_first_apps_objects_gets_shared_resource_not_a_fight(
    git_repo: Any, apps: Apps, kube: KubeClient, dest_namespace: str
) -> None:
    files = example_files()
    team_b = {
        "apps/team-b/deployment.yaml": files["apps/finance/deployment.yaml"].replace(
            "replicas: 1", "replicas: 5"
        ),
        "apps/team-b/configmap.yaml": files[CONFIGMAP].replace("EUR", "USD"),
    }
    git_repo.commit(files | team_b)
    first = await apps.create(
        git_repo.git_url, dest=dest_namespace, automated={"prune": True, "selfHeal": True}
    )
    await apps.wait_synced(first, healthy=True)
    deployment = await kube.get("apps/v1", "Deployment", "finance-api", dest_namespace)
    config = await _cm(kube, dest_namespace)

    second = await apps.create(
        git_repo.git_url,
        path="apps/team-b",
        dest=dest_namespace,
        automated={"prune": True, "selfHeal": True},
        options=[],
    )

    def shared(st: dict[str, Any]) -> bool:
        return condition(st, "SharedResource") is not None

    st = await apps.wait(second, shared, "SharedResource on the second app")
    message = condition(st, "SharedResource")["message"]  # type: ignore[index]
    assert f"Deployment {dest_namespace}/finance-api belongs to app '{first}'" in message
    assert f"ConfigMap {dest_namespace}/finance-api-config belongs to app '{first}'" in message

    versions = set()
    deadline = time.monotonic() + 12  # several passes of both apps (3 s poll)
    while time.monotonic() < deadline:
        versions.add((await _cm(kube, dest_namespace))["metadata"]["resourceVersion"])
        await asyncio.sleep(0.5)
    assert versions == {config["metadata"]["resourceVersion"]}, "the ConfigMap flip-flopped"
    now = await kube.get("apps/v1", "Deployment", "finance-api", dest_namespace)
    assert now["metadata"]["labels"][LABEL] == first
    assert now["metadata"]["generation"] == deployment["metadata"]["generation"]
    assert now["spec"]["replicas"] == deployment["spec"]["replicas"]
    assert (await _cm(kube, dest_namespace))["data"]["CURRENCY"] == "EUR"
    assert not (await apps.status(second)).get("inventory")
    assert (await apps.status(first))["sync"]["status"] == "Synced"


async def test_prune_does_not_delete_an_object_replaced_under_the_same_name(
    git_repo: Any,
    apps: Apps,
    kube: KubeClient,
    kubectl: Kubectl,
    dest_namespace: str,
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(git_repo.git_url, dest=dest_namespace, automated={"prune": True})
    await apps.wait_synced(name)
    old = await _cm(kube, dest_namespace)
    # Someone replaces the app's ConfigMap with their own: same name, no app label.
    kubectl("delete", "configmap", "finance-api-config", "-n", dest_namespace)
    _hand_made_configmap(kubectl, dest_namespace)
    sha = git_repo.commit({CONFIGMAP: None}, message="drop the config map")
    await apps.wait_synced(name, revision=sha)
    kept = await _cm(kube, dest_namespace)
    assert kept["metadata"]["uid"] != old["metadata"]["uid"]
    assert kept["data"] == {"owner": "ops"}


async def test_a_prune_planned_on_a_stale_read_deletes_only_that_very_object(
    kube: KubeClient, kubectl: Kubectl, dest_namespace: str
) -> None:
    """The live cache can lag: the plan judged the app's object, which was then
    replaced by another of the same name, still wearing the app's label."""
    _namespace(kubectl, dest_namespace)
    _hand_made_configmap(kubectl, dest_namespace, {LABEL: "team-a"})
    judged = await _cm(kube, dest_namespace)
    kubectl("delete", "configmap", "finance-api-config", "-n", dest_namespace)
    _hand_made_configmap(kubectl, dest_namespace, {LABEL: "team-a"})
    key = ObjectKey("", "ConfigMap", dest_namespace, "finance-api-config")
    stale = SyncPlan(
        apply=[],
        prune=[key],
        skipped_prune=[],
        prune_uids={key: judged["metadata"]["uid"]},
    )
    outcome = await execute(kube, stale, app_name="team-a")
    assert outcome.ok and outcome.pruned == []
    assert "replaced by another object of the same name" in outcome.kept[key]
    assert (await _cm(kube, dest_namespace))["metadata"]["uid"] != judged["metadata"]["uid"]


async def test_cascade_delete_keeps_objects_that_lost_the_label_or_belong_to_another_app(
    git_repo: Any,
    apps: Apps,
    kube: KubeClient,
    kubectl: Kubectl,
    kubeconfig: str,
    dest_namespace: str,
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(git_repo.git_url, dest=dest_namespace, automated={})
    st = await apps.wait_synced(name)
    assert len(st["inventory"]) == 3
    kubectl("label", "configmap", "finance-api-config", "-n", dest_namespace, f"{LABEL}-")
    kubectl(
        "label", "service", "finance-api", "-n", dest_namespace, f"{LABEL}=team-b", "--overwrite"
    )

    proc = await asyncio.create_subprocess_exec(
        TETHER,
        "app",
        "delete",
        name,
        "--cascade",
        "--kubeconfig",
        kubeconfig,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, COLUMNS="300", NO_COLOR="1"),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    apps.created.remove(name)
    said = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "with 1 objects" in said, said
    assert (
        f"kept: ConfigMap {dest_namespace}/finance-api-config no longer carries the label" in said
    )
    assert f"kept: Service {dest_namespace}/finance-api belongs to app 'team-b'" in said

    async def deployment_gone() -> bool:
        dep = await kube.get_or_none("apps/v1", "Deployment", "finance-api", dest_namespace)
        return dep is None or bool(dep["metadata"].get("deletionTimestamp"))

    await await_for(deployment_gone, what="the app's own Deployment deleted")
    assert await kube.get_or_none("v1", "ConfigMap", "finance-api-config", dest_namespace)
    assert await kube.get_or_none("v1", "Service", "finance-api", dest_namespace)


async def test_delete_resource_refuses_another_apps_object_and_unmanaged_ones_even_forced(
    git_repo: Any,
    apps: Apps,
    kube: KubeClient,
    kubectl: Kubectl,
    service: AppService,
    dest_namespace: str,
) -> None:
    files = example_files()
    git_repo.commit(files | {"apps/other/configmap.yaml": files[CONFIGMAP]})
    first = await apps.create(git_repo.git_url, dest=dest_namespace, automated={})
    await apps.wait_synced(first)
    second = await apps.create(
        git_repo.git_url, path="apps/other", dest=dest_namespace, automated={}, options=[]
    )
    await apps.wait(
        second, lambda st: condition(st, "SharedResource") is not None, "SharedResource"
    )
    kubectl("create", "configmap", "hand-made", "-n", dest_namespace, "--from-literal=a=1")

    with pytest.raises(ActionRefused) as theirs:
        await service.delete_resource(
            second, "ConfigMap", "finance-api-config", force=True, initiated_by="attacker"
        )
    assert f"belongs to app '{first}'" in str(theirs.value)
    with pytest.raises(ActionRefused) as nobodys:
        await service.delete_resource(
            first, "ConfigMap", "hand-made", force=True, initiated_by="attacker"
        )
    assert "not managed by any app" in str(nobodys.value)
    assert await kube.get_or_none("v1", "ConfigMap", "finance-api-config", dest_namespace)
    assert await kube.get_or_none("v1", "ConfigMap", "hand-made", dest_namespace)
