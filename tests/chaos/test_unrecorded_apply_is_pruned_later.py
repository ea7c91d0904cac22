"""An object applied but never recorded (the controller killed between the apply and the
status write) is still pruned when it leaves Git.

The chaos suite's reasoning: after such a kill the restarted controller finds
the app Synced and has nothing to sync, so the object it created never
reached the inventory, and nothing outside the inventory is ever pruned: it
would stay forever. Now a Synced app's desired objects (live, as Git wants
them, with the app's label) are taken into its inventory. The kill is
simulated here by taking the object out of the recorded inventory.
"""

from __future__ import annotations

from typing import Any

from fixtures.tether import APP_NS, Apps
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.runtime import Controller
from tether.engine import application as appmodel


def configmap(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"


async def test_an_object_missing_from_the_inventory_is_pruned_when_git_drops_it(
    controller: Controller, apps: Apps, git_repo: Any, kube: KubeClient, dest_namespace: str
) -> None:
    git_repo.commit(
        {"apps/u/kept.yaml": configmap("kept"), "apps/u/moved.yaml": configmap("moved")}
    )
    name = await apps.create(
        git_repo.git_url, path="apps/u", dest=dest_namespace, automated={"prune": True}
    )
    st = await apps.wait_synced(name)
    kept = f"|ConfigMap|{dest_namespace}|kept"
    assert kept in st["inventory"] and len(st["inventory"]) == 2
    await kube.merge_patch(
        appmodel.API_VERSION,
        appmodel.KIND,
        name,
        {"status": {"inventory": [kept]}},
        APP_NS,
        subresource="status",
    )
    passes = controller.metrics.reconciles
    await await_for(lambda: _after(controller, passes + 3), what="three more passes")
    git_repo.commit({"apps/u/moved.yaml": None}, message="moved leaves Git")
    await await_for(
        lambda: _gone(kube, dest_namespace), timeout=60, what="moved pruned from the cluster"
    )
    assert await kube.get_or_none("v1", "ConfigMap", "kept", dest_namespace) is not None


async def _after(controller: Controller, count: int) -> bool:
    return controller.metrics.reconciles >= count


async def _gone(kube: KubeClient, ns: str) -> bool:
    return await kube.get_or_none("v1", "ConfigMap", "moved", ns) is None
