"""Jsonnet apps (Argo CD's directory convention) on the cluster, and empty renders that say why."""

from __future__ import annotations

from typing import Any

from fixtures.tether import Apps, condition

MAIN = """
local lib = import 'k8s.libsonnet';
function(replicas=1) [
  lib.configmap('web-settings', { env: std.extVar('env') }),
  lib.configmap('web-size', { replicas: std.toString(replicas) }),
]
"""
LIB = """
{ configmap(name, data):: { apiVersion: 'v1', kind: 'ConfigMap',
                            metadata: { name: name }, data: data } }
"""
JSONNET = {
    "libs": ["jsonnet-lib"],
    "extVars": [{"name": "env", "value": "staging"}],
    "tlas": [{"name": "replicas", "value": "3", "code": True}],
}


async def test_jsonnet_directory_with_lib_ext_var_and_tla_syncs(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    git_repo.commit({"apps/web/main.jsonnet": MAIN, "jsonnet-lib/k8s.libsonnet": LIB})
    source = {
        "repoURL": git_repo.git_url,
        "targetRevision": "main",
        "path": "apps/web",
        "directory": {"jsonnet": JSONNET},
    }
    name = await apps.create(
        git_repo.git_url, dest=dest_namespace, automated={"prune": True}, extra={"source": source}
    )
    await apps.wait_synced(name, healthy=True)
    settings = await apps.kube.get("v1", "ConfigMap", "web-settings", dest_namespace)
    size = await apps.kube.get("v1", "ConfigMap", "web-size", dest_namespace)
    assert settings["data"] == {"env": "staging"}
    assert size["data"] == {"replicas": "3"}

    # A change to the library alone (outside the app path) re-renders the app.
    sha = git_repo.commit(
        {"jsonnet-lib/k8s.libsonnet": LIB.replace("data: data", "data: data + {v: '2'}")},
        message="library only",
    )
    await apps.wait_synced(name, revision=sha)
    settings = await apps.kube.get("v1", "ConfigMap", "web-settings", dest_namespace)
    assert settings["data"] == {"env": "staging", "v": "2"}


UNREADABLE = {
    "apps/web/app.cue": "name: 'kept'",
    "apps/web/helpers.libsonnet": "{}",
    "apps/web/README.md": "how to deploy",
}


def _names_unreadable(sha: str) -> Any:
    def explained(st: dict[str, Any]) -> bool:
        found = condition(st, "ComparisonError")
        return found is not None and sha[:12] in found["message"]

    return explained


def _assert_names_them(st: dict[str, Any]) -> None:
    message = condition(st, "ComparisonError")["message"]  # type: ignore[index]
    assert "rendered no objects" in message
    assert "apps/web/app.cue" in message and "apps/web/helpers.libsonnet" in message
    assert "README" not in message


async def test_new_app_on_a_folder_of_unreadable_files_is_not_synced_and_healthy(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    sha = git_repo.commit(UNREADABLE)
    name = await apps.create(
        git_repo.git_url, path="apps/web", dest=dest_namespace, automated={"prune": True}
    )
    st = await apps.wait(name, _names_unreadable(sha), "ComparisonError naming the files")
    _assert_names_them(st)
    assert st["sync"]["status"] == "Unknown"
    assert (st.get("health") or {}).get("status") != "Healthy"


async def test_app_whose_files_become_unreadable_names_them_and_prunes_nothing(
    git_repo: Any, apps: Apps, dest_namespace: str
) -> None:
    git_repo.commit(
        {"apps/web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kept}\n"}
    )
    name = await apps.create(
        git_repo.git_url, path="apps/web", dest=dest_namespace, automated={"prune": True}
    )
    await apps.wait_synced(name)

    sha = git_repo.commit(
        {"apps/web/cm.yaml": None, **UNREADABLE}, message="move to a format Tether cannot read"
    )
    st = await apps.wait(name, _names_unreadable(sha), "ComparisonError naming the files")
    _assert_names_them(st)
    assert await apps.kube.get_or_none("v1", "ConfigMap", "kept", dest_namespace) is not None
