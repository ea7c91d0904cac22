"""Git directories: one Application per folder; a new folder adds one, a removed folder
deletes one only where the policy allows, with or without its resources."""

from __future__ import annotations

from typing import Any

from appsets_helpers import Sets, condition, configmap, synced_and_healthy

from fixtures.waiting import await_for


def folders_set(
    sets: Sets, repo_url: str, suffix: str, sync_policy: dict[str, Any]
) -> dict[str, Any]:
    return {
        "goTemplate": True,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [
            {
                "git": {
                    "repoURL": repo_url,
                    "revision": "main",
                    "directories": [{"path": "apps/*"}, {"path": "apps/ignored", "exclude": True}],
                }
            }
        ],
        "template": {
            "metadata": {"name": f"{sets.prefix}-{suffix}-{{{{.path.basename}}}}"},
            "spec": {
                "project": "default",
                "source": {"repoURL": repo_url, "targetRevision": "main", "path": "{{.path.path}}"},
                "destination": {"namespace": f"{sets.prefix}-{suffix}-{{{{.path.basename}}}}"},
                "syncPolicy": {
                    "automated": {"prune": True, "selfHeal": True},
                    "syncOptions": ["CreateNamespace=true"],
                },
            },
        },
        "syncPolicy": sync_policy,
    }


async def test_a_folder_per_app_and_removal_follows_each_policy(git_repo: Any, sets: Sets) -> None:
    git_repo.commit(
        {
            "apps/alpha/cm.yaml": configmap("alpha"),
            "apps/beta/cm.yaml": configmap("beta"),
            "apps/ignored/cm.yaml": configmap("ignored"),
            "README.md": "not an app",
        }
    )
    policies = {
        "sync": {"applicationsSync": "sync"},
        "keep": {},  # the default: create-update, never deletes
        "preserve": {"applicationsSync": "sync", "preserveResourcesOnDeletion": True},
    }
    names = {}
    for suffix, policy in policies.items():
        names[suffix] = await sets.create(
            sets.name(suffix), folders_set(sets, git_repo.git_url, suffix, policy)
        )

    def apps_of(suffix: str, *folders: str) -> set[str]:
        return {f"{sets.prefix}-{suffix}-{f}" for f in folders}

    for suffix, name in names.items():
        found = await sets.wait_apps(name, apps_of(suffix, "alpha", "beta"))
        app = found[f"{sets.prefix}-{suffix}-alpha"]
        assert app["spec"]["source"]["path"] == "apps/alpha"
        assert app["metadata"]["ownerReferences"][0]["name"] == name
    for suffix in names:
        await sets.wait_app(f"{sets.prefix}-{suffix}-beta", synced_and_healthy, "Synced, Healthy")

    # a commit adds a folder: every set adds an app
    git_repo.commit({"apps/gamma/cm.yaml": configmap("gamma")}, message="add gamma")
    for suffix, name in names.items():
        await sets.wait_apps(name, apps_of(suffix, "alpha", "beta", "gamma"))

    # a commit removes a folder
    git_repo.commit({"apps/beta": None}, message="remove beta")
    await sets.wait_apps(names["sync"], apps_of("sync", "alpha", "gamma"))
    await sets.wait_apps(names["preserve"], apps_of("preserve", "alpha", "gamma"))

    # sync: the app and what it deployed are gone
    async def deleted(ns: str) -> bool:
        return await sets.kube.get_or_none("v1", "ConfigMap", "beta", ns) is None

    await await_for(lambda: deleted(f"{sets.prefix}-sync-beta"), what="beta's ConfigMap deleted")
    # preserveResourcesOnDeletion: the app is gone, its ConfigMap stays
    assert not await deleted(f"{sets.prefix}-preserve-beta")

    # the default policy keeps the app, and says why
    st = await sets.wait_status(
        names["keep"],
        lambda s: "does not delete" in condition(s, "ResourcesUpToDate").get("message", ""),
        "beta kept by the policy",
    )
    assert condition(st, "ResourcesUpToDate")["status"] == "False"
    assert condition(st, "ErrorOccurred")["status"] == "False"
    assert f"{sets.prefix}-keep-beta" in condition(st, "ResourcesUpToDate")["message"]
    assert set(await sets.apps(names["keep"])) == apps_of("keep", "alpha", "beta", "gamma")
    assert not await deleted(f"{sets.prefix}-keep-beta")
    listed = {r["name"]: r for r in st["resources"]}
    assert "does not delete" in listed[f"{sets.prefix}-keep-beta"]["message"]
