"""Chart dependencies from declared repositories, and OCI logins kept by a RegistryCredential."""

from __future__ import annotations

from typing import Any

from fixtures.tether import Apps, condition
from fixtures.waiting import await_for

UMBRELLA = """apiVersion: v2
name: umbrella
version: 0.1.0
dependencies:
  - name: web
    version: "^1.0"
    repository: {repo}
"""
OWN = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: umbrella-own\ndata: {a: b}\n"


async def test_git_chart_dependency_is_fetched_from_a_declared_repository(
    git_repo: Any, chart_repo: Any, charts: Any, repo_secrets: Any, apps: Apps, dest_namespace: str
) -> None:
    charts.publish(chart_repo, "web", "1.2.0", greeting="from the dependency")
    await repo_secrets.create(
        url=chart_repo.url, type="helm", username=chart_repo.user, password=chart_repo.password
    )
    git_repo.commit(
        {
            "charts/umbrella/Chart.yaml": UMBRELLA.format(repo=chart_repo.url),
            "charts/umbrella/templates/own.yaml": OWN,
        }
    )
    name = await apps.create(git_repo.git_url, path="charts/umbrella", dest=dest_namespace)
    # Not synced yet (no automated policy): the render alone must include the dependency.
    st = await apps.wait(
        name,
        lambda s: (s.get("sync") or {}).get("status") == "OutOfSync",
        "rendered with its dependency",
    )
    names = {r["name"] for r in st["resources"]}
    assert names == {"umbrella-own", "web-settings"}


async def test_dependency_from_an_undeclared_repository_is_refused_by_name(
    git_repo: Any, chart_repo: Any, charts: Any, apps: Apps, dest_namespace: str
) -> None:
    charts.publish(chart_repo, "web", "1.2.0")
    git_repo.commit(
        {
            "charts/umbrella/Chart.yaml": UMBRELLA.format(repo=chart_repo.url),
            "charts/umbrella/templates/own.yaml": OWN,
        }
    )
    name = await apps.create(git_repo.git_url, path="charts/umbrella", dest=dest_namespace)

    def refused(st: dict[str, Any]) -> bool:
        found = condition(st, "ComparisonError")
        return found is not None and "no repository Secret" in found["message"]

    st = await apps.wait(name, refused, "ComparisonError naming the dependency")
    message = condition(st, "ComparisonError")["message"]  # type: ignore[index]
    assert "'web'" in message and chart_repo.url in message


async def test_oci_chart_login_comes_from_a_registry_credential(
    registry_server: Any,
    charts: Any,
    repo_secrets: Any,
    regcreds: Any,
    reconciler: Any,
    apps: Apps,
    dest_namespace: str,
) -> None:
    user, password = registry_server.add_user(f"rc-{dest_namespace}")
    charts.push_oci(registry_server, "rc", "api", "2.0.0", user, password)
    await apps.kube.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": dest_namespace}}
    )
    login = f"login-{dest_namespace}"
    await regcreds.secret("tether", login, {"username": user, "password": password})
    credential = f"charts-{dest_namespace}"
    await regcreds.create(
        credential,
        {
            "registry": registry_server.host,
            "provider": {"type": "basic", "basic": {"secretRef": {"name": login}}},
            "secretName": "chart-pull",
            "namespaces": {"names": [dest_namespace]},
        },
    )

    async def delivered() -> bool:
        return await apps.kube.get_or_none("v1", "Secret", "chart-pull", dest_namespace) is not None

    await await_for(delivered, what="pull Secret delivered")
    repo_url = f"oci://{registry_server.host}/rc"
    await repo_secrets.create(url=repo_url, registryCredential=credential)
    source = {"repoURL": repo_url, "chart": "api", "targetRevision": "2.x"}
    name = await apps.create(repo_url, dest=dest_namespace, automated={}, extra={"source": source})
    await apps.wait_synced(name, healthy=True, revision="2.0.0")
    cm = await apps.kube.get("v1", "ConfigMap", "api-settings", dest_namespace)
    assert cm["data"]["chartVersion"] == "2.0.0"
