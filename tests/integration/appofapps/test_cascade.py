"""Argo CD's resources finalizer on any Application: deleting the app deletes its resources
first, unless the person deleting it asks to keep them."""

from __future__ import annotations

from typing import Any

from appofapps_helpers import ARGO_FINALIZER, Tree, configmap_yaml

from fixtures.tether import APP_NS
from fixtures.waiting import await_for
from tether.controller.runtime import Controller
from tether.controller.service import AppService
from tether.engine import application as appmodel


async def _app_with_finalizer(tree: Tree, git_repo: Any, finalizer: str) -> tuple[str, str]:
    name, ns = tree.name("fin"), tree.namespace("fin")
    git_repo.commit({"fin/configmap.yaml": configmap_yaml("fin-settings", "fin")})
    await tree.kube.create(
        {
            "apiVersion": appmodel.API_VERSION,
            "kind": appmodel.KIND,
            "metadata": {"name": name, "namespace": APP_NS, "finalizers": [finalizer]},
            "spec": {
                "source": {"repoURL": git_repo.git_url, "path": "fin", "targetRevision": "main"},
                "destination": {"namespace": ns},
                "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
            },
        }
    )
    await tree.wait(name, lambda s: (s.get("sync") or {}).get("status") == "Synced", "Synced")
    assert await tree.configmap("fin-settings", ns) is not None
    return name, ns


async def test_deleting_an_app_with_the_argo_cd_finalizer_deletes_its_resources_first(
    tree: Tree, git_repo: Any, controller: Controller
) -> None:
    name, ns = await _app_with_finalizer(tree, git_repo, ARGO_FINALIZER)
    await tree.kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
    await tree.wait_gone(name)
    assert await tree.configmap("fin-settings", ns) is None


async def test_the_background_finalizer_also_deletes_the_resources(
    tree: Tree, git_repo: Any, controller: Controller
) -> None:
    name, ns = await _app_with_finalizer(tree, git_repo, f"{ARGO_FINALIZER}/background")
    await tree.kube.delete(appmodel.API_VERSION, appmodel.KIND, name, APP_NS)
    await tree.wait_gone(name)

    async def configmap_gone() -> bool:
        found = await tree.configmap("fin-settings", ns)
        return found is None or bool(found["metadata"].get("deletionTimestamp"))

    await await_for(configmap_gone, what="the ConfigMap deleted")


async def test_deleting_without_cascade_keeps_the_resources_despite_the_finalizer(
    tree: Tree, git_repo: Any, service: AppService, controller: Controller
) -> None:
    name, ns = await _app_with_finalizer(tree, git_repo, ARGO_FINALIZER)
    await service.delete_app(name, cascade=False)
    await tree.wait_gone(name)
    assert await tree.configmap("fin-settings", ns) is not None
