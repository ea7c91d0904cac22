"""The chart cache when its disk fails under a running controller.

Chart archives are cached on disk by digest (``<cache>/charts``). A real
control plane, a real HTTP chart repository with basic auth, and the
controller's cache on a small tmpfs of its own: the disk fills up for real
(ENOSPC from the kernel) and the directory is deleted for real.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from fixtures.cache_disk import CacheDisk, cache_disk, controller_on
from fixtures.tether import Apps, condition
from tether.controller.runtime import Controller
from tether.testenv import cluster as localcluster

__all__ = ["cache_disk"]


@pytest.fixture
async def controller(
    cache_disk: CacheDisk, installed: localcluster.ClusterState, poll_interval: float
) -> AsyncIterator[Controller]:
    async for ctl in controller_on(cache_disk, installed, poll_interval):
        yield ctl


@pytest.fixture
def other_namespace(cluster: localcluster.ClusterState) -> Iterator[str]:
    name = f"d-{secrets.token_hex(4)}"
    yield name
    with cluster.client() as http:
        http.delete(f"/api/v1/namespaces/{name}")


async def _chart_app(
    apps: Apps, chart_repo: Any, repo_secrets: Any, dest: str, revision: str = "^1.0"
) -> str:
    await repo_secrets.create(
        url=chart_repo.url, type="helm", username=chart_repo.user, password=chart_repo.password
    )
    source = {"repoURL": chart_repo.url, "chart": "web", "targetRevision": revision}
    return await apps.create(
        chart_repo.url, dest=dest, automated={"prune": True}, extra={"source": source}
    )


async def _chart_version(apps: Apps, ns: str) -> str:
    settings = await apps.kube.get("v1", "ConfigMap", "web-settings", ns)
    return str(settings["data"]["chartVersion"])


async def test_a_full_disk_is_named_nothing_is_applied_and_the_new_version_syncs_once_freed(
    cache_disk: CacheDisk,
    chart_repo: Any,
    charts: Any,
    repo_secrets: Any,
    apps: Apps,
    dest_namespace: str,
    other_namespace: str,
) -> None:
    charts.publish(chart_repo, "web", "1.0.0")
    name = await _chart_app(apps, chart_repo, repo_secrets, dest_namespace)
    await apps.wait_synced(name, revision="1.0.0")

    cache_disk.fill()
    charts.publish(chart_repo, "web", "1.1.0")

    def disk_full(st: dict[str, Any]) -> bool:
        found = condition(st, "ComparisonError")
        return found is not None and "1.1.0" in found["message"]

    st = await apps.wait(name, disk_full, "ComparisonError for 1.1.0")
    message = condition(st, "ComparisonError")["message"]  # type: ignore[index]
    assert "out of disk space" in message, message
    assert "cannot reach" not in message and "not found" not in message, message
    assert str(cache_disk.path) not in message  # the controller's paths stay its own
    assert chart_repo.password not in message
    # Nothing applied, nothing pruned: the 1.0.0 object is live as it was.
    assert await _chart_version(apps, dest_namespace) == "1.0.0"
    assert [h["revision"] for h in st.get("history") or []] == ["1.0.0"]
    # A version already in the cache still renders from it while the disk is full.
    pinned = await _chart_app(apps, chart_repo, repo_secrets, other_namespace, "1.0.0")
    await apps.wait_synced(pinned, revision="1.0.0")

    cache_disk.free()
    st = await apps.wait_synced(name, revision="1.1.0")
    assert await _chart_version(apps, dest_namespace) == "1.1.0"
    assert condition(st, "ComparisonError") is None
    # The failed write left no torn archive behind to fill the disk again.
    stored = cache_disk.files("charts")
    assert len(stored) == 2 and all(f.startswith("sha256-") for f in stored), stored


async def test_a_deleted_chart_cache_is_fetched_again_without_a_restart(
    cache_disk: CacheDisk,
    chart_repo: Any,
    charts: Any,
    repo_secrets: Any,
    apps: Apps,
    dest_namespace: str,
    other_namespace: str,
) -> None:
    charts.publish(chart_repo, "web", "1.0.0")
    first = await _chart_app(apps, chart_repo, repo_secrets, dest_namespace)
    await apps.wait_synced(first, revision="1.0.0")
    (archive,) = cache_disk.files("charts")

    cache_disk.delete("charts")
    # A second app on the version whose archive was just deleted, and a new version
    # for the first app: both renders need the cache the clean-up removed.
    second = await _chart_app(apps, chart_repo, repo_secrets, other_namespace, "1.0.0")
    charts.publish(chart_repo, "web", "1.1.0")

    await apps.wait_synced(second, revision="1.0.0")
    await apps.wait_synced(first, revision="1.1.0")
    assert await _chart_version(apps, dest_namespace) == "1.1.0"
    assert await _chart_version(apps, other_namespace) == "1.0.0"
    stored = cache_disk.files("charts")
    assert archive in stored and len(stored) == 2, stored


async def test_an_oci_chart_on_a_full_disk_says_so_and_syncs_once_freed(
    cache_disk: CacheDisk,
    registry_server: Any,
    charts: Any,
    repo_secrets: Any,
    apps: Apps,
    dest_namespace: str,
) -> None:
    user, password = registry_server.add_user("charts-disk")
    charts.push_oci(registry_server, "disk", "api", "0.3.0", user, password)
    repo_url = f"oci://{registry_server.host}/disk"
    await repo_secrets.create(url=repo_url, username=user, password=password)
    source = {"repoURL": repo_url, "chart": "api", "targetRevision": "~0.3"}
    name = await apps.create(repo_url, dest=dest_namespace, automated={}, extra={"source": source})
    await apps.wait_synced(name, revision="0.3.0")

    cache_disk.fill()
    charts.push_oci(registry_server, "disk", "api", "0.3.1", user, password)

    def disk_full(st: dict[str, Any]) -> bool:
        found = condition(st, "ComparisonError")
        return found is not None and "0.3.1" in found["message"]

    st = await apps.wait(name, disk_full, "ComparisonError for 0.3.1")
    message = condition(st, "ComparisonError")["message"]  # type: ignore[index]
    assert "out of disk space" in message and "cannot reach" not in message, message
    assert password not in message

    cache_disk.free()
    await apps.wait_synced(name, revision="0.3.1")
    settings = await apps.kube.get("v1", "ConfigMap", "api-settings", dest_namespace)
    assert settings["data"]["chartVersion"] == "0.3.1"
