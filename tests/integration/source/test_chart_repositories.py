"""Charts from chart repositories: an HTTP index with basic auth, and an OCI registry."""

from __future__ import annotations

from typing import Any

from fixtures.tether import Apps, condition

APP_NS = "tether"


def _chart_source(repo_url: str, chart: str, revision: str, **extra: Any) -> dict[str, Any]:
    return {"repoURL": repo_url, "chart": chart, "targetRevision": revision, **extra}


async def _settings(apps: Apps, ns: str, name: str = "web-settings") -> dict[str, str]:
    return dict((await apps.kube.get("v1", "ConfigMap", name, ns)).get("data") or {})


async def test_http_chart_installs_upgrades_with_its_range_and_rolls_back(
    chart_repo: Any, charts: Any, repo_secrets: Any, apps: Apps, service: Any, dest_namespace: str
) -> None:
    charts.publish(chart_repo, "web", "1.0.0")
    await repo_secrets.create(
        url=chart_repo.url, type="helm", username=chart_repo.user, password=chart_repo.password
    )
    source = _chart_source(
        chart_repo.url, "web", "^1.0", helm={"valuesObject": {"greeting": "from the app"}}
    )
    name = await apps.create(
        chart_repo.url, dest=dest_namespace, automated={"prune": True}, extra={"source": source}
    )
    st = await apps.wait_synced(name, healthy=True, revision="1.0.0")
    assert await _settings(apps, dest_namespace) == {
        "chartVersion": "1.0.0",
        "greeting": "from the app",
    }
    assert "web 1.0.0 (sha256:" in st["revisionMessage"]

    # A new version inside the range is picked up by the next poll.
    charts.publish(chart_repo, "web", "1.1.0")
    charts.publish(chart_repo, "web", "2.0.0")  # outside ^1.0: never deployed
    st = await apps.wait_synced(name, revision="1.1.0")
    assert (await _settings(apps, dest_namespace))["chartVersion"] == "1.1.0"
    revisions = [h["revision"] for h in st["history"]]
    assert revisions == ["1.0.0", "1.1.0"]
    assert "web 1.1.0" in st["history"][-1]["message"]

    # Rolling back to the first history entry deploys that chart version again.
    state = await service.rollback(name, st["history"][0]["id"], initiated_by="test")
    assert state["phase"] == "Succeeded", state
    assert (await _settings(apps, dest_namespace))["chartVersion"] == "1.0.0"
    st = await apps.status(name)
    assert st["history"][-1]["revision"] == "1.0.0"

    # Auto-sync stays paused: the range still means 1.1.0, shown as OutOfSync.
    st = await apps.wait(
        name,
        lambda s: (
            s["sync"] == {"status": "OutOfSync", "revision": "1.1.0"}
            and s["autoSyncPaused"]["paused"]
        ),
        "OutOfSync at 1.1.0 with auto-sync paused",
    )
    assert (await _settings(apps, dest_namespace))["chartVersion"] == "1.0.0"


async def test_wrong_password_names_the_repository_not_the_secret(
    chart_repo: Any, charts: Any, repo_secrets: Any, apps: Apps, dest_namespace: str
) -> None:
    charts.publish(chart_repo, "web", "1.0.0")
    wrong = "not-the-password-" + chart_repo.password[:4]
    secret = await repo_secrets.create(
        url=chart_repo.url, type="helm", username=chart_repo.user, password=wrong
    )
    source = _chart_source(chart_repo.url, "web", "1.x")
    name = await apps.create(chart_repo.url, dest=dest_namespace, extra={"source": source})

    def refused(st: dict[str, Any]) -> bool:
        found = condition(st, "ComparisonError")
        return found is not None and "refused the credentials" in found["message"]

    st = await apps.wait(name, refused, "ComparisonError about the credentials")
    message = condition(st, "ComparisonError")["message"]  # type: ignore[index]
    assert chart_repo.url in message
    assert secret not in message and wrong not in message
    assert st["sync"]["status"] == "Unknown"


async def test_oci_chart_deploys_upgrades_and_rolls_back_with_a_repository_secret(
    registry_server: Any,
    charts: Any,
    repo_secrets: Any,
    apps: Apps,
    service: Any,
    dest_namespace: str,
) -> None:
    user, password = registry_server.add_user("charts-reader")
    charts.push_oci(registry_server, "charts", "api", "0.3.0", user, password)
    charts.push_oci(registry_server, "charts", "api", "0.4.0", user, password)
    repo_url = f"oci://{registry_server.host}/charts"
    await repo_secrets.create(url=repo_url, username=user, password=password)
    name = await apps.create(
        repo_url,
        dest=dest_namespace,
        automated={},
        extra={"source": _chart_source(repo_url, "api", "~0.3")},
    )
    st = await apps.wait_synced(name, healthy=True, revision="0.3.0")
    assert (await _settings(apps, dest_namespace, "api-settings"))["chartVersion"] == "0.3.0"
    assert f"oci://{registry_server.host}/charts/api:0.3.0 (sha256:" in st["revisionMessage"]

    # A new patch inside ~0.3 is picked up; rollback returns to 0.3.0.
    charts.push_oci(registry_server, "charts", "api", "0.3.1", user, password)
    st = await apps.wait_synced(name, revision="0.3.1")
    assert (await _settings(apps, dest_namespace, "api-settings"))["chartVersion"] == "0.3.1"
    state = await service.rollback(name, st["history"][0]["id"], initiated_by="test")
    assert state["phase"] == "Succeeded", state
    assert (await _settings(apps, dest_namespace, "api-settings"))["chartVersion"] == "0.3.0"


async def test_oci_chart_in_argo_cd_form_uses_enable_oci(
    registry_server: Any, charts: Any, repo_secrets: Any, apps: Apps, dest_namespace: str
) -> None:
    user, password = registry_server.add_user("charts-argo")
    charts.push_oci(registry_server, "argo", "api", "1.0.0", user, password)
    repo_url = f"{registry_server.host}/argo"
    await repo_secrets.create(
        url=repo_url, type="helm", enableOCI="true", username=user, password=password
    )
    name = await apps.create(
        repo_url,
        dest=dest_namespace,
        automated={},
        extra={"source": _chart_source(repo_url, "api", "1.0.0")},
    )
    await apps.wait_synced(name, revision="1.0.0")
    assert (await _settings(apps, dest_namespace, "api-settings"))["chartVersion"] == "1.0.0"


async def test_a_cached_chart_is_not_lent_to_a_project_without_credentials(
    chart_repo: Any,
    charts: Any,
    repo_secrets: Any,
    apps: Apps,
    make_project: Any,
    dest_namespace: str,
) -> None:
    team_a, team_b = await make_project.create(), await make_project.create()
    charts.publish(chart_repo, "web", "1.0.0")
    await repo_secrets.create(
        url=chart_repo.url,
        project=team_a,
        username=chart_repo.user,
        password=chart_repo.password,
    )
    source = _chart_source(chart_repo.url, "web", "1.0.0")
    first = await apps.create(
        chart_repo.url, dest=dest_namespace, extra={"source": source, "project": team_a}
    )
    await apps.wait(
        first, lambda s: (s.get("sync") or {}).get("status") == "OutOfSync", "rendered for team-a"
    )

    other = await apps.create(
        chart_repo.url, dest=dest_namespace + "-b", extra={"source": source, "project": team_b}
    )

    def refused(st: dict[str, Any]) -> bool:
        found = condition(st, "ComparisonError")
        return found is not None and "refused the credentials" in found["message"]

    st = await apps.wait(other, refused, "team-b refused although the chart is cached")
    assert not st.get("resources")
