"""Dependencies between apps on the real control plane: B waits for A, cycles are refused."""

from __future__ import annotations

from typing import Any

import yaml
from appofapps_helpers import Tree, condition, configmap_yaml

from fixtures.tether import Apps
from tether.controller.runtime import Controller
from tether.controller.service import AppService, SyncRequest

AUTO = {"prune": True, "selfHeal": True}


def deployment_yaml(name: str, *, schedulable: bool) -> str:
    pod_spec: dict[str, Any] = {"containers": [{"name": "app", "image": "example/app:1"}]}
    if not schedulable:
        pod_spec["nodeSelector"] = {"example.com/no-such-node": "true"}
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "progressDeadlineSeconds": 3600,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
            },
        }
    )


async def test_an_app_does_not_sync_until_its_dependency_is_synced_and_healthy(
    tree: Tree, git_repo: Any, apps: Apps, service: AppService, controller: Controller
) -> None:
    db, web = tree.name("db"), tree.name("web")
    db_ns, web_ns = tree.namespace("db"), tree.namespace("web")
    git_repo.commit(
        {
            "db/deployment.yaml": deployment_yaml("db", schedulable=False),
            "web/configmap.yaml": configmap_yaml("web-settings", "web"),
        }
    )
    await apps.create(git_repo.git_url, path="db", dest=db_ns, automated=AUTO, name=db)
    await apps.create(
        git_repo.git_url,
        path="web",
        dest=web_ns,
        automated=AUTO,
        name=web,
        extra={"dependsOn": [{"name": db}]},
    )

    # db is Synced but its Pod cannot be scheduled: Progressing, so web waits.
    await apps.wait(db, lambda s: (s.get("health") or {}).get("status") == "Progressing", "db")

    def waiting_on_progressing_db(st: dict[str, Any]) -> bool:
        cond = condition(st, "DependencyNotReady")
        return cond is not None and f"waiting for {db}: it is Progressing" in cond["message"]

    st = await apps.wait(web, waiting_on_progressing_db, "DependencyNotReady naming db")
    assert st["sync"]["status"] == "OutOfSync"
    assert await tree.configmap("web-settings", web_ns) is None
    assert not st.get("history")

    # A manual sync waits too, and says why.
    state = await service.sync(web, SyncRequest(), initiated_by="alice")
    assert state["phase"] == "Error", state
    assert f"waiting for {db}" in state["message"], state
    assert await tree.configmap("web-settings", web_ns) is None

    sha = git_repo.commit(
        {"db/deployment.yaml": deployment_yaml("db", schedulable=True)}, message="schedulable db"
    )
    await apps.wait_synced(db, healthy=True, revision=sha)
    st = await apps.wait_synced(web, healthy=True, revision=sha)
    assert condition(st, "DependencyNotReady") is None
    assert await tree.configmap("web-settings", web_ns) is not None
    assert st["history"][-1]["initiatedBy"] == "automated"


async def test_a_dependency_cycle_is_named_on_both_apps_and_neither_syncs(
    tree: Tree, git_repo: Any, apps: Apps, controller: Controller
) -> None:
    a, b = tree.name("a"), tree.name("b")
    a_ns, b_ns = tree.namespace("a"), tree.namespace("b")
    git_repo.commit(
        {
            "a/configmap.yaml": configmap_yaml("a-settings", "a"),
            "b/configmap.yaml": configmap_yaml("b-settings", "b"),
        }
    )
    for name, path, ns, other in ((a, "a", a_ns, b), (b, "b", b_ns, a)):
        await apps.create(
            git_repo.git_url,
            path=path,
            dest=ns,
            automated=AUTO,
            name=name,
            extra={"dependsOn": [{"name": other}]},
        )

    for name, other in ((a, b), (b, a)):
        st = await apps.wait(
            name, lambda s: condition(s, "DependencyCycle") is not None, "DependencyCycle"
        )
        message = condition(st, "DependencyCycle")["message"]  # type: ignore[index]
        assert f"dependency cycle: {name} -> {other} -> {name}" in message
        assert condition(st, "DependencyNotReady") is None
        assert not st.get("history")
    assert await tree.configmap("a-settings", a_ns) is None
    assert await tree.configmap("b-settings", b_ns) is None
