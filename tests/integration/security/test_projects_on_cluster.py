"""Projects on the real control plane: two teams, each held to its own namespace.

Each test is an attack a repository writer or app creator could try; the
controller must apply nothing of it and name the rule that stopped it.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from fixtures.tether import APP_NS, Apps, condition
from fixtures.waiting import await_for
from tether.adapters.kube import ApiError, KubeClient
from tether.controller.service import AppService, SyncRequest
from tether.engine import projects

pytestmark = pytest.mark.cluster


def _yaml(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def configmap(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


class Teams:
    """Two projects, team-a and team-b, each allowed only its own namespace."""

    def __init__(self, kube: KubeClient, suffix: str) -> None:
        self.kube = kube
        self.a = f"team-a-{suffix}"
        self.b = f"team-b-{suffix}"

    async def setup(self, **extra_a: Any) -> None:
        for team in (self.a, self.b):
            await self.kube.create(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team}}
            )
            spec: dict[str, Any] = {
                "sourceRepos": ["*"],
                "destinations": [{"name": "in-cluster", "namespace": team}],
            }
            if team == self.a:
                spec.update(extra_a)
            await self.kube.create(projects.new_project(team, APP_NS, spec))

    async def teardown(self) -> None:
        for team in (self.a, self.b):
            await self.kube.delete(projects.API_VERSION, projects.KIND, team, APP_NS)
            await self.kube.delete("v1", "Namespace", team)


async def service_account_with(
    kube: KubeClient, namespace: str, name: str, rules: list[dict[str, Any]]
) -> None:
    """A ServiceAccount in ``namespace`` holding exactly ``rules`` there (a Role and binding)."""
    rbac = "rbac.authorization.k8s.io/v1"
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }
    )
    await kube.create(
        {
            "apiVersion": rbac,
            "kind": "Role",
            "metadata": {"name": name, "namespace": namespace},
            "rules": rules,
        }
    )
    await kube.create(
        {
            "apiVersion": rbac,
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        }
    )


@pytest.fixture
async def teams(kube: KubeClient) -> AsyncIterator[Teams]:
    t = Teams(kube, secrets.token_hex(3))
    yield t
    await t.teardown()


async def denied(apps: Apps, name: str, *needles: str) -> dict[str, Any]:
    status = await apps.wait(
        name, lambda s: condition(s, "ProjectDenied") is not None, "ProjectDenied", timeout=60
    )
    message = condition(status, "ProjectDenied")["message"]  # type: ignore[index]
    for needle in needles:
        assert needle in message, message
    return status


async def test_team_a_repo_cannot_write_into_team_b_namespace(
    teams: Teams, apps: Apps, git_repo: Any, kube: KubeClient
) -> None:
    await teams.setup()
    git_repo.commit(
        {
            "app/ok.yaml": _yaml(configmap("ok")),
            "app/evil.yaml": _yaml(configmap("planted", teams.b)),
        }
    )
    name = await apps.create(
        git_repo.git_url,
        path="app",
        dest=teams.a,
        options=[],
        automated={"prune": True},
        extra={"project": teams.a},
    )
    status = await apps.wait(
        name,
        lambda s: condition(s, "ComparisonError") is not None,
        "ComparisonError",
    )
    assert teams.b in condition(status, "ComparisonError")["message"]  # type: ignore[index]
    assert await kube.get_or_none("v1", "ConfigMap", "planted", teams.b) is None
    assert await kube.get_or_none("v1", "ConfigMap", "ok", teams.a) is None


async def test_an_app_cannot_name_a_destination_its_project_does_not_allow(
    teams: Teams, apps: Apps, git_repo: Any, kube: KubeClient
) -> None:
    await teams.setup()
    git_repo.commit({"app/ok.yaml": _yaml(configmap("sneaky"))})
    name = await apps.create(
        git_repo.git_url,
        path="app",
        dest=teams.b,
        options=[],
        automated={},
        extra={"project": teams.a},
    )
    await denied(apps, name, f"destination namespace {teams.b!r}", f"project {teams.a}")
    assert await kube.get_or_none("v1", "ConfigMap", "sneaky", teams.b) is None


@pytest.mark.parametrize(
    "attack",
    [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "pwn-{s}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
        },
        {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "RegistryCredential",
            "metadata": {"name": "pwn-{s}"},
            "spec": {
                "registry": "registry.example.com",
                "provider": {"basic": {"secretRef": {"name": "x", "namespace": "tether"}}},
                "selector": {"matchLabels": {"x": "y"}},
            },
        },
        {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "pwn-{s}"},
            "spec": {
                "source": {"repoURL": "https://git.example.com/x.git"},
                "destination": {"namespace": "kube-system"},
            },
        },
    ],
    ids=["ClusterRoleBinding", "RegistryCredential", "Application"],
)
async def test_team_a_repo_cannot_create_cluster_power(
    attack: dict[str, Any], teams: Teams, apps: Apps, git_repo: Any, kube: KubeClient
) -> None:
    await teams.setup()
    suffix = secrets.token_hex(3)
    obj = yaml.safe_load(yaml.safe_dump(attack).replace("{s}", suffix))
    git_repo.commit({"app/ok.yaml": _yaml(configmap("ok")), "app/attack.yaml": _yaml(obj)})
    name = await apps.create(
        git_repo.git_url,
        path="app",
        dest=teams.a,
        options=[],
        automated={"prune": True},
        extra={"project": teams.a},
    )
    await denied(apps, name, f"{obj['kind']}/{obj['metadata']['name']}", "nothing applied")
    namespace = teams.a if obj["kind"] == "Application" else ""
    assert (
        await kube.get_or_none(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], namespace)
        is None
    )
    assert await kube.get_or_none("v1", "ConfigMap", "ok", teams.a) is None


async def test_an_app_naming_a_missing_project_is_refused(
    apps: Apps, git_repo: Any, dest_namespace: str
) -> None:
    git_repo.commit({"app/ok.yaml": _yaml(configmap("ok"))})
    name = await apps.create(
        git_repo.git_url, path="app", dest=dest_namespace, extra={"project": "nope"}
    )
    await denied(apps, name, "project 'nope' does not exist")


async def test_the_app_namespace_is_never_a_default_destination(
    apps: Apps, git_repo: Any, kube: KubeClient
) -> None:
    git_repo.commit({"app/steal.yaml": _yaml(configmap("tokens-copy"))})
    name = await apps.create(git_repo.git_url, path="app", dest=APP_NS, options=[], automated={})
    await denied(apps, name, "reserved namespace")
    name = await apps.create(
        git_repo.git_url, path="app", dest="kube-system", options=[], automated={}
    )
    await denied(apps, name, "reserved namespace")
    assert await kube.get_or_none("v1", "ConfigMap", "tokens-copy", APP_NS) is None
    assert await kube.get_or_none("v1", "ConfigMap", "tokens-copy", "kube-system") is None


async def test_a_deny_sync_window_holds_automation_and_is_shown(
    teams: Teams, apps: Apps, git_repo: Any, kube: KubeClient, service: AppService
) -> None:
    await teams.setup(
        syncWindows=[
            {"kind": "deny", "schedule": "* * * * *", "duration": "2h", "applications": ["*"]}
        ]
    )
    git_repo.commit({"app/ok.yaml": _yaml(configmap("held"))})
    name = await apps.create(
        git_repo.git_url,
        path="app",
        dest=teams.a,
        options=[],
        automated={"prune": True},
        extra={"project": teams.a},
    )
    status = await apps.wait(
        name, lambda s: condition(s, "SyncWindow") is not None, "SyncWindow condition"
    )
    assert "deny sync window" in condition(status, "SyncWindow")["message"]  # type: ignore[index]
    assert status["sync"]["status"] == "OutOfSync"
    assert await kube.get_or_none("v1", "ConfigMap", "held", teams.a) is None
    shown = await service.get_app(name)
    assert condition(shown.get("status") or {}, "SyncWindow") is not None
    # A manual sync is refused too, since the window does not allow manual syncs.
    await service.sync(name, SyncRequest(), initiated_by="alice")
    status = await apps.wait(
        name,
        lambda s: (s.get("operationState") or {}).get("phase") == "Error",
        "manual sync refused",
    )
    assert "sync window" in status["operationState"]["message"]
    assert await kube.get_or_none("v1", "ConfigMap", "held", teams.a) is None


async def test_syncs_act_as_the_project_service_account_and_rbac_has_the_last_word(
    teams: Teams, apps: Apps, git_repo: Any, kube: KubeClient, service: AppService
) -> None:
    await teams.setup(
        destinationServiceAccounts=[
            {"server": "*", "namespace": "*", "defaultServiceAccount": "no-secrets"}
        ]
    )
    await service_account_with(
        kube,
        teams.a,
        "no-secrets",
        [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}],
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "stringData": {"password": "hunter2"},
    }
    git_repo.commit({"app/cm.yaml": _yaml(configmap("fine")), "app/secret.yaml": _yaml(secret)})
    name = await apps.create(
        git_repo.git_url,
        path="app",
        dest=teams.a,
        options=[],
        automated={"prune": True},
        extra={"project": teams.a},
    )

    async def forbidden() -> dict[str, Any] | None:
        st = await apps.status(name)
        found = [r for r in st.get("resources") or [] if r["kind"] == "Secret" and r.get("message")]
        return st if found and "forbidden" in found[0]["message"].lower() else None

    status = await await_for(forbidden, timeout=60, what="Secret forbidden for the project SA")
    message = next(r for r in status["resources"] if r["kind"] == "Secret")["message"]
    assert f"system:serviceaccount:{teams.a}:no-secrets" in message
    assert "hunter2" not in str(status)
    assert await kube.get_or_none("v1", "Secret", "db", teams.a) is None
    assert await kube.get_or_none("v1", "ConfigMap", "fine", teams.a) is None  # all or nothing
    explained = await service.explain(name)
    text = explained["text"]
    assert f"system:serviceaccount:{teams.a}:no-secrets" in text and "'patch' on secrets" in text


async def test_deletes_asked_for_by_a_person_act_as_the_project_service_account(
    teams: Teams, apps: Apps, git_repo: Any, kube: KubeClient, service: AppService
) -> None:
    await teams.setup(
        destinationServiceAccounts=[
            {"server": "*", "namespace": "*", "defaultServiceAccount": "no-delete"}
        ]
    )
    await service_account_with(
        kube,
        teams.a,
        "no-delete",
        [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "verbs": ["get", "list", "watch", "create", "patch", "update"],
            }
        ],
    )
    git_repo.commit({"app/cm.yaml": _yaml(configmap("kept"))})
    name = await apps.create(
        git_repo.git_url,
        path="app",
        dest=teams.a,
        options=[],
        automated={},
        extra={"project": teams.a},
    )
    await apps.wait_synced(name)
    with pytest.raises(ApiError) as caught:
        await service.delete_resource(name, "ConfigMap", "kept", force=True, initiated_by="bob")
    assert f"system:serviceaccount:{teams.a}:no-delete" in str(caught.value)
    assert await kube.get_or_none("v1", "ConfigMap", "kept", teams.a) is not None
