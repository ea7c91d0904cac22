"""Per-object prune options on the real control plane: Prune=false, PruneLast=true, Delete=false.

Order is read from the API server's resourceVersions (``order_recorder``).
"""

from __future__ import annotations

from typing import Any

import yaml
from order_recorder import recording

from fixtures.tether import Apps
from tether.controller.service import AppService


def config_map(name: str, wave: str = "0", options: str = "") -> str:
    notes = {"argocd.argoproj.io/sync-wave": wave}
    if options:
        notes["argocd.argoproj.io/sync-options"] = options
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "annotations": notes}}
    )


FILES = {
    "apps/opts/kept.yaml": config_map("kept", options="Prune=false"),
    # The highest wave is pruned first, except what says PruneLast.
    "apps/opts/last.yaml": config_map("last", wave="5", options="PruneLast=true"),
    "apps/opts/early.yaml": config_map("early", wave="1"),
    "apps/opts/stay.yaml": config_map("stay", options="Delete=false"),
}


def synced_at(sha: str) -> Any:
    def check(st: dict[str, Any]) -> bool:
        op = st.get("operationState") or {}
        return op.get("revision") == sha and op.get("phase") in ("Succeeded", "Failed")

    return check


async def test_prune_false_keeps_prune_last_goes_last_and_delete_false_outlives_the_app(
    git_repo: Any, apps: Apps, service: AppService, dest_namespace: str
) -> None:
    git_repo.commit(FILES)
    name = await apps.create(
        git_repo.git_url, path="apps/opts", dest=dest_namespace, automated={"prune": True}
    )
    await apps.wait_synced(name)

    async with recording(apps.kube, dest_namespace, [("v1", "ConfigMap")]) as seen:
        sha = git_repo.commit(
            {f"apps/opts/{f}.yaml": None for f in ("kept", "last", "early")},
            message="drop three config maps",
        )
        st = await apps.wait(name, synced_at(sha), "the pruning sync finished", timeout=90)

    assert st["operationState"]["phase"] == "Succeeded", st["operationState"]
    deleted = {e.name: e.rv for e in seen.events if e.type == "DELETED"}
    assert set(deleted) == {"last", "early"}
    assert deleted["early"] < deleted["last"]
    assert await apps.kube.get_or_none("v1", "ConfigMap", "kept", dest_namespace) is not None
    assert st["sync"]["status"] == "OutOfSync"
    assert [r["name"] for r in st["resources"] if r.get("requiresPruning")] == ["kept"]

    done = await service.delete_app(name, cascade=True)
    apps.created.remove(name)
    kept = {key.name: why for key, why in done.kept.items()}
    assert "Delete=false" in kept.get("stay", ""), done
    assert await apps.kube.get_or_none("v1", "ConfigMap", "stay", dest_namespace) is not None
