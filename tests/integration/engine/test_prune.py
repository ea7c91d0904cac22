"""Prune: what disappears from Git is deleted only when asked, and only if it is ours."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fixtures.tether import Apps, condition, example_files

Kubectl = Callable[..., str]
CONFIGMAP = "apps/finance/configmap.yaml"


async def _exists(apps: Apps, kind: str, name: str, ns: str) -> bool:
    api_version = "apps/v1" if kind == "Deployment" else "v1"
    return await apps.kube.get_or_none(api_version, kind, name, ns) is not None


async def test_file_removed_from_git_is_pruned_when_prune_is_on(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(
        git_repo.git_url, dest=dest_namespace, automated={"prune": True, "selfHeal": True}
    )
    await apps.wait_synced(name)
    assert await _exists(apps, "ConfigMap", "finance-api-config", dest_namespace)

    sha = git_repo.commit({CONFIGMAP: None}, message="drop the config map")
    st = await apps.wait_synced(name, revision=sha)
    assert not await _exists(apps, "ConfigMap", "finance-api-config", dest_namespace)
    assert await _exists(apps, "Deployment", "finance-api", dest_namespace)
    assert "pruned 1" in st["operationState"]["message"]
    assert not any("ConfigMap" in e for e in st["inventory"])


async def test_with_prune_off_the_object_stays_and_the_app_says_requires_pruning(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(
        git_repo.git_url, dest=dest_namespace, automated={"prune": False, "selfHeal": True}
    )
    await apps.wait_synced(name)

    sha = git_repo.commit({CONFIGMAP: None}, message="drop the config map")

    def requires_pruning(st: dict[str, Any]) -> bool:
        return (
            st.get("sync", {}).get("status") == "OutOfSync"
            and st["sync"].get("revision") == sha
            and any(r.get("requiresPruning") for r in st.get("resources") or [])
        )

    st = await apps.wait(name, requires_pruning, "OutOfSync with requiresPruning")
    extra = [r for r in st["resources"] if r.get("requiresPruning")]
    assert [(r["kind"], r["name"]) for r in extra] == [("ConfigMap", "finance-api-config")]
    assert await _exists(apps, "ConfigMap", "finance-api-config", dest_namespace)
    # The object stays in the inventory so a later prune can still find it.
    assert any("|ConfigMap|" in e for e in st["inventory"])


async def test_objects_not_created_by_the_app_are_never_pruned(
    git_repo: Any, apps: Apps, kubectl: Kubectl, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(
        git_repo.git_url, dest=dest_namespace, automated={"prune": True, "selfHeal": True}
    )
    await apps.wait_synced(name)
    # Made by hand: one without any label, one wearing the app's label but never deployed by it.
    kubectl("create", "configmap", "hand-made", "-n", dest_namespace, "--from-literal=a=1")
    kubectl(
        "apply",
        "-n",
        dest_namespace,
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "impostor", "labels": {"app.tether.dev/instance": name}},
                "data": {"b": "2"},
            }
        ),
    )

    sha = git_repo.commit({CONFIGMAP: None}, message="drop the config map")
    st = await apps.wait_synced(name, revision=sha)
    assert not await _exists(apps, "ConfigMap", "finance-api-config", dest_namespace)
    assert await _exists(apps, "ConfigMap", "hand-made", dest_namespace)
    assert await _exists(apps, "ConfigMap", "impostor", dest_namespace)
    assert not any(r.get("requiresPruning") for r in st["resources"])


async def test_a_render_that_suddenly_yields_nothing_refuses_to_prune(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    files = example_files()
    git_repo.commit(files)
    name = await apps.create(
        git_repo.git_url, dest=dest_namespace, automated={"prune": True, "selfHeal": True}
    )
    await apps.wait_synced(name)

    emptied = {path: None for path in files} | {"apps/finance/README.md": "moved\n"}
    sha = git_repo.commit(emptied, message="oops, everything deleted")

    def refused(st: dict[str, Any]) -> bool:
        cond = condition(st, "ComparisonError")
        return cond is not None and st["sync"].get("revision") == sha

    st = await apps.wait(name, refused, "ComparisonError for the empty render")
    message = condition(st, "ComparisonError")["message"]  # type: ignore[index]
    assert "refusing" in message and "3" in message, message
    for kind, obj in (
        ("ConfigMap", "finance-api-config"),
        ("Deployment", "finance-api"),
        ("Service", "finance-api"),
    ):
        assert await _exists(apps, kind, obj, dest_namespace), f"{kind} {obj} was pruned"


async def test_an_empty_render_prunes_everything_when_allow_empty_is_set(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    files = example_files()
    git_repo.commit(files)
    name = await apps.create(
        git_repo.git_url,
        dest=dest_namespace,
        automated={"prune": True, "selfHeal": True, "allowEmpty": True},
    )
    await apps.wait_synced(name)

    emptied = {path: None for path in files} | {"apps/finance/README.md": "moved\n"}
    sha = git_repo.commit(emptied, message="retire the app")
    st = await apps.wait_synced(name, revision=sha)
    assert condition(st, "ComparisonError") is None
    for kind, obj in (
        ("ConfigMap", "finance-api-config"),
        ("Deployment", "finance-api"),
        ("Service", "finance-api"),
    ):
        assert not await _exists(apps, kind, obj, dest_namespace), f"{kind} {obj} not pruned"
    assert st["inventory"] == []
