"""Projects as plain data: what an app may read, where it may deploy, which kinds, when."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tether.engine import application as appmodel
from tether.engine import credentials, projects
from tether.engine.objects import ObjectKey

APP_NS = "tether"


def project(spec: dict[str, Any], name: str = "team-a") -> projects.Project:
    return projects.parse(projects.new_project(name, APP_NS, spec))


def app_spec(repo: str = "https://git.example.com/a/app.git", ns: str = "team-a") -> Any:
    return appmodel.parse_spec(
        {"source": {"repoURL": repo}, "destination": {"namespace": ns}, "project": "team-a"}
    )


TEAM_A = {
    "sourceRepos": ["https://git.example.com/a/*"],
    "destinations": [{"name": "in-cluster", "namespace": "team-a*"}],
}


def test_repository_outside_source_repos_is_refused_and_named() -> None:
    problems = projects.check_app(
        project(TEAM_A), app_spec("https://git.example.com/b/app.git"), APP_NS
    )
    assert len(problems) == 1
    assert "https://git.example.com/b/app.git" in problems[0]
    assert "sourceRepos" in problems[0]


def test_userinfo_in_a_refused_repository_is_never_printed() -> None:
    problems = projects.check_app(
        project(TEAM_A), app_spec("https://bob:s3cret@git.example.com/b/app.git"), APP_NS
    )
    assert "s3cret" not in problems[0]


def test_destination_outside_the_project_is_refused() -> None:
    problems = projects.check_app(project(TEAM_A), app_spec(ns="team-b"), APP_NS)
    assert ["team-b" in p and "destinations" in p for p in problems] == [True]


@pytest.mark.parametrize("reserved", [APP_NS, "kube-system", "kube-public"])
def test_a_glob_never_reaches_the_app_namespace_or_kube_namespaces(reserved: str) -> None:
    anywhere = [{"server": "*", "namespace": "*"}]
    everything = project({"sourceRepos": ["*"], "destinations": anywhere})
    problems = projects.check_app(everything, app_spec(ns=reserved), APP_NS)
    assert problems and "reserved namespace" in problems[0]


def test_a_destination_naming_a_reserved_namespace_exactly_allows_it() -> None:
    explicit = project(
        {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "kube-system"}]}
    )
    assert projects.check_app(explicit, app_spec(ns="kube-system"), APP_NS) == []


def test_cluster_scoped_kinds_are_refused_unless_whitelisted() -> None:
    keys = [
        ObjectKey("rbac.authorization.k8s.io", "ClusterRoleBinding", "", "pwn"),
        ObjectKey("", "Namespace", "", "other"),
    ]
    problems = projects.check_objects(project(TEAM_A), keys)
    assert len(problems) == 2
    assert "ClusterRoleBinding/pwn" in problems[0] and "clusterResourceWhitelist" in problems[0]
    allowed = project({**TEAM_A, "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}]})
    assert len(projects.check_objects(allowed, keys)) == 1


def test_registry_credentials_and_applications_need_an_explicit_allowance() -> None:
    keys = [
        ObjectKey("tether.dev", "RegistryCredential", "", "ecr"),
        ObjectKey("tether.dev", "Application", "team-a", "child"),
        ObjectKey("argoproj.io", "Application", "team-a", "child"),
    ]
    assert len(projects.check_objects(project(TEAM_A), keys)) == 3
    listed = project(
        {
            **TEAM_A,
            "clusterResourceWhitelist": [{"group": "tether.dev", "kind": "RegistryCredential"}],
            "namespaceResourceWhitelist": [
                {"group": "tether.dev", "kind": "Application"},
                {"group": "argoproj.io", "kind": "Application"},
            ],
        }
    )
    assert projects.check_objects(listed, keys) == []


def test_namespaced_blacklist_and_whitelist() -> None:
    key = ObjectKey("", "Secret", "team-a", "s")
    deny = project({**TEAM_A, "namespaceResourceBlacklist": [{"group": "", "kind": "Secret"}]})
    assert "namespaceResourceBlacklist" in projects.check_objects(deny, [key])[0]
    only = project({**TEAM_A, "namespaceResourceWhitelist": [{"group": "apps", "kind": "*"}]})
    assert "namespaceResourceWhitelist" in projects.check_objects(only, [key])[0]
    assert projects.check_objects(only, [ObjectKey("apps", "Deployment", "team-a", "d")]) == []


def test_service_account_per_destination() -> None:
    p = project(
        {
            **TEAM_A,
            "destinationServiceAccounts": [
                {"server": "*", "namespace": "team-a-prod", "defaultServiceAccount": "ops:deploy"},
                {"server": "*", "namespace": "*", "defaultServiceAccount": "deployer"},
            ],
        }
    )
    server = appmodel.IN_CLUSTER
    assert projects.service_account(p, server, "team-a-prod") == "system:serviceaccount:ops:deploy"
    assert projects.service_account(p, server, "team-a") == "system:serviceaccount:team-a:deployer"
    assert projects.service_account(project(TEAM_A), server, "team-a") is None


def window_project(*windows: dict[str, Any]) -> projects.Project:
    return project({**TEAM_A, "syncWindows": list(windows)})


AT_0230 = dt.datetime(2026, 12, 2, 2, 30, tzinfo=dt.UTC)
AT_0500 = dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.UTC)


def test_an_active_deny_window_stops_automation_and_says_so() -> None:
    p = window_project(
        {"kind": "deny", "schedule": "0 2 * * *", "duration": "1h", "applications": ["*"]}
    )
    inside = projects.sync_windows(p, "api", "team-a", appmodel.IN_CLUSTER, AT_0230)
    assert not inside.automated and not inside.manual
    assert "deny sync window" in inside.message and "0 2 * * *" in inside.message
    outside = projects.sync_windows(p, "api", "team-a", appmodel.IN_CLUSTER, AT_0500)
    assert outside.automated and outside.manual


def test_manual_sync_through_a_deny_window_when_allowed() -> None:
    p = window_project(
        {
            "kind": "deny",
            "schedule": "0 2 * * *",
            "duration": "1h",
            "namespaces": ["team-*"],
            "manualSync": True,
        }
    )
    verdict = projects.sync_windows(p, "api", "team-a", appmodel.IN_CLUSTER, AT_0230)
    assert not verdict.automated and verdict.manual


def test_allow_windows_confine_syncs_to_their_hours() -> None:
    p = window_project(
        {"kind": "allow", "schedule": "0 2 * * *", "duration": "1h", "applications": ["api"]}
    )
    assert projects.sync_windows(p, "api", "team-a", appmodel.IN_CLUSTER, AT_0230).automated
    late = projects.sync_windows(p, "api", "team-a", appmodel.IN_CLUSTER, AT_0500)
    assert not late.automated and "outside every allow sync window" in late.message
    other = projects.sync_windows(p, "web", "team-a", appmodel.IN_CLUSTER, AT_0500)
    assert other.automated


def test_a_bad_schedule_is_named() -> None:
    with pytest.raises(projects.ProjectError, match=r"syncWindows.0.schedule"):
        window_project({"kind": "deny", "schedule": "every night", "duration": "1h"})


def test_argocd_appproject_converts_and_unsupported_fields_are_named() -> None:
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "team-a", "namespace": "argocd"},
        "spec": {
            **TEAM_A,
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            "roles": [{"name": "ci", "policies": []}],
        },
    }
    obj = projects.from_argocd(manifest, APP_NS)
    assert obj["apiVersion"] == "tether.dev/v1alpha1" and obj["metadata"]["namespace"] == APP_NS
    assert "roles" not in obj["spec"]
    bad = {**manifest, "spec": {**TEAM_A, "permitOnlyProjectScopedClusters": True}}
    with pytest.raises(projects.ProjectError, match="permitOnlyProjectScopedClusters"):
        projects.from_argocd(bad, APP_NS)


def test_repository_credentials_serve_only_their_project() -> None:
    def secret(name: str, project: str | None) -> dict[str, Any]:
        data = {"url": "https://git.example.com/a", "password": "tok"}
        if project:
            data["project"] = project
        return {
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": APP_NS,
                "labels": {"tether.dev/secret-type": "repository"},
            },
            "stringData": data,
        }

    url = "https://git.example.com/a/app.git"
    team_b_only = [secret("b", "team-b")]
    assert credentials.credentials_for(url, team_b_only, "team-a") is None
    assert credentials.credentials_for(url, team_b_only, "team-b") is not None
    unscoped = [secret("any", None)]
    assert credentials.credentials_for(url, unscoped, "team-a") is None
    assert credentials.credentials_for(url, unscoped) is not None
