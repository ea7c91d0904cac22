"""The web UI in Chromium against the REAL control plane.

``tether_server`` runs the real ``tether controller --listen`` against the local
kube-apiserver (pods simulated by kwok), apps come from the finance example in
a real Git repository, and changes reach the controller through a signed push
webhook. Each test makes its own app (auto-sync, prune, selfHeal) in its own
destination namespace. Screenshots: test-artifacts/screenshots/cluster-*.png.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import (
    DEPLOYMENT,
    TIMEOUT,
    create_app,
    delete_app,
    deployment,
    kubectl,
    push_webhook,
    sign_in,
    status,
    wait_synced_healthy,
)
from playwright.sync_api import Browser, Page, expect
from ui_server import CHROMIUM, CHROMIUM_ARGS

from fixtures.server import TetherServer
from fixtures.tether import example_files
from fixtures.waiting import wait_for

pytestmark = pytest.mark.browser

PODS = "[data-testid^='tree-node-Pod-']"
NEW_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/finance-api:1.5"


@pytest.fixture(scope="module")
def cluster_browser(tether_server: TetherServer) -> Iterator[Browser]:
    """Chromium for this module only, started AFTER the server.

    The sync Playwright API keeps its event loop marked running in the main
    thread while it is open, so fixtures that call ``asyncio.run`` (``installed``
    behind ``tether_server``) must be set up before it starts, and it is closed
    when the module ends so later async tests are unaffected.
    """
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(cluster_browser: Browser) -> Iterator[Page]:
    context = cluster_browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    expect.set_options(timeout=TIMEOUT)
    yield page
    context.close()


@pytest.fixture
def finance_app(tether_server: TetherServer, git_repo: Any, dest_namespace: str) -> Iterator[str]:
    """A fresh finance app, deployed Synced and Healthy (checked through the API)."""
    git_repo.commit(example_files(), message="finance app")
    name = create_app(tether_server, git_repo.git_url, dest_namespace)
    try:
        wait_synced_healthy(tether_server, name, message="finance app")
        yield name
    finally:
        delete_app(tether_server, name)


def push(server: TetherServer, repo: Any, files: dict[str, str], message: str) -> str:
    """Commit, then announce it with the signed webhook (the 3 s poll would also find it)."""
    sha = repo.commit(files, message=message)
    push_webhook(server, repo.git_url)
    return sha


def cluster_deployment(server: TetherServer, namespace: str) -> dict[str, Any]:
    out = kubectl(server, "-n", namespace, "get", "deployment", "finance-api", "-o", "json")
    return json.loads(out)


def test_list_shows_the_app_synced_and_healthy(
    page: Page, tether_server: TetherServer, finance_app: str, screenshots: Path
) -> None:
    sign_in(page, tether_server, tether_server.admin_token)
    expect(page.get_by_test_id("session")).to_contain_text("test-admin")
    expect(page.get_by_test_id("live-state")).to_have_text("live")
    # other tests' apps share the server: search narrows the (windowed) list to this one
    page.get_by_test_id("search").fill(finance_app)
    row = page.get_by_test_id(f"app-row-{finance_app}")
    expect(row).to_be_visible()
    expect(row.get_by_test_id("sync-badge")).to_contain_text("Synced")
    expect(row.get_by_test_id("health-badge")).to_have_text("Healthy")
    expect(row).to_contain_text("finance app")
    page.get_by_test_id("search").fill("")
    expect(row).to_be_visible()
    page.screenshot(path=screenshots / "cluster-list.png")


def test_tree_shows_new_pods_live_after_a_push(
    page: Page,
    tether_server: TetherServer,
    finance_app: str,
    git_repo: Any,
    screenshots: Path,
) -> None:
    sign_in(page, tether_server, tether_server.admin_token, f"/apps/{finance_app}")
    expect(page.get_by_test_id("app-title")).to_have_text(finance_app)
    expect(page.get_by_test_id("tree-node-Deployment-finance-api")).to_be_visible()
    expect(page.get_by_test_id("tree-node-Service-finance-api")).to_be_visible()
    expect(page.get_by_test_id("tree-node-ConfigMap-finance-api-config")).to_be_visible()
    expect(page.locator(PODS)).to_have_count(1)
    # a marker that a reload would wipe out
    page.evaluate("window.__noReload = 'still here'")

    push(tether_server, git_repo, {DEPLOYMENT: deployment(replicas=3)}, "scale to 3")
    expect(page.locator(PODS)).to_have_count(3)
    for i in range(3):
        expect(page.locator(PODS).nth(i).get_by_test_id("node-status")).to_have_text(
            re.compile("running", re.I)
        )
    expect(page.get_by_test_id("app-revision")).to_contain_text("scale to 3")
    expect(page.get_by_test_id("health-badge")).to_have_text("Healthy")
    assert page.evaluate("window.__noReload") == "still here"
    page.screenshot(path=screenshots / "cluster-tree-3-pods.png", full_page=True)


def test_failing_image_pull_is_diagnosed(
    page: Page,
    tether_server: TetherServer,
    finance_app: str,
    git_repo: Any,
    screenshots: Path,
) -> None:
    sign_in(page, tether_server, tether_server.admin_token, f"/apps/{finance_app}")
    expect(page.get_by_test_id("tree-node-Deployment-finance-api")).to_be_visible()
    expect(page.get_by_test_id("diagnosis-banner")).to_have_count(0)

    push(
        tether_server,
        git_repo,
        {DEPLOYMENT: deployment(image=NEW_IMAGE, simulate="image-pull-backoff")},
        "finance-api 1.5",
    )
    banner = page.get_by_test_id("diagnosis-banner")
    expect(banner).to_be_visible(timeout=60_000)
    expect(banner).to_contain_text("ImagePullBackOff", timeout=60_000)
    expect(banner).to_contain_text(re.compile(r"no basic auth credentials|credential", re.I))
    expect(banner.get_by_test_id("next-step")).not_to_be_empty()
    page.screenshot(path=screenshots / "cluster-diagnosis.png", full_page=True)
    failing = page.locator(PODS).filter(has_text="ImagePullBackOff")
    expect(failing.first).to_be_visible()


def test_admin_syncs_rolls_back_and_resumes(
    page: Page,
    tether_server: TetherServer,
    finance_app: str,
    git_repo: Any,
    dest_namespace: str,
    screenshots: Path,
) -> None:
    push(tether_server, git_repo, {DEPLOYMENT: deployment(replicas=2)}, "scale to 2")
    wait_synced_healthy(tether_server, finance_app, message="scale to 2")
    history = status(tether_server, finance_app)["history"]
    first = next(h for h in history if h["message"] == "finance app")

    sign_in(page, tether_server, tether_server.admin_token, f"/apps/{finance_app}")
    expect(page.locator(PODS)).to_have_count(2)

    # sync from the UI
    page.get_by_test_id("sync-button").click()
    dialog = page.get_by_test_id("sync-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("sync-resource-Deployment-finance-api")).to_be_visible()
    expect(page.get_by_test_id("sync-prune")).to_be_checked()
    page.screenshot(path=screenshots / "cluster-sync-dialog.png")
    page.get_by_test_id("sync-confirm").click()
    expect(dialog).to_have_count(0)
    toast = page.get_by_test_id("toast").last
    expect(toast).to_contain_text(re.compile("succeeded", re.I))
    expect(toast).to_have_class(re.compile("toast-ok"))
    with tether_server.admin() as http:
        events = http.get(f"/api/v1/apps/{finance_app}/events").json()
    assert any("test-admin" in e["message"] for e in events)

    # roll back to the first deployment from the history view
    page.get_by_test_id("history-button").click()
    history_dialog = page.get_by_test_id("history-dialog")
    expect(history_dialog).to_be_visible()
    expect(history_dialog).to_contain_text("scale to 2")
    rollback = page.get_by_test_id(f"rollback-{first['id']}")
    expect(rollback).to_be_enabled()
    rollback.click()
    expect(rollback).to_have_text("Confirm rollback")
    page.screenshot(path=screenshots / "cluster-history.png")
    rollback.click()
    expect(history_dialog).to_have_count(0)
    expect(page.get_by_test_id("toast").last).to_contain_text(f"back to {first['revision'][:7]}")
    expect(page.get_by_test_id("paused-banner")).to_be_visible()
    expect(page.get_by_test_id("paused-banner")).to_contain_text("rolled back")
    expect(page.locator(PODS)).to_have_count(1)

    def back_at_first() -> bool:
        spec = cluster_deployment(tether_server, dest_namespace)["spec"]
        return spec["replicas"] == 1

    wait_for(back_at_first, timeout=30, what="the Deployment back at the first revision")
    spec = cluster_deployment(tether_server, dest_namespace)["spec"]
    assert spec["template"]["spec"]["containers"][0]["image"].endswith("finance-api:1.4")
    st = status(tether_server, finance_app)
    assert st["operationState"]["phase"] == "Succeeded"
    assert st["operationState"]["revision"] == first["revision"]
    assert st["history"][-1]["revision"] == first["revision"]
    assert st["autoSyncPaused"]["paused"] is True
    # the page says what runs now (the first commit) and what Git holds
    expect(page.get_by_test_id("sync-badge")).to_contain_text("Out of sync")
    expect(page.get_by_test_id("app-revision")).to_contain_text("finance app")
    expect(page.get_by_test_id("git-revision")).to_contain_text("scale to 2")
    page.screenshot(path=screenshots / "cluster-paused.png", full_page=True)
    page.get_by_test_id("history-button").click()
    expect(history_dialog.get_by_test_id(f"history-{st['history'][-1]['id']}")).to_contain_text(
        "current"
    )
    page.screenshot(path=screenshots / "cluster-history-after-rollback.png")
    history_dialog.get_by_role("button", name="Close").click()
    expect(history_dialog).to_have_count(0)

    # the list, too: out of sync, running the first commit, Git ahead, auto-sync paused
    page.get_by_role("link", name="\u2190 Applications").click()
    page.get_by_test_id("search").fill(finance_app)
    row = page.get_by_test_id(f"app-row-{finance_app}")
    expect(row.get_by_test_id("sync-badge")).to_contain_text("Out of sync")
    expect(row).to_contain_text("finance app")
    expect(row.get_by_test_id("git-ahead")).to_be_visible()
    expect(row).to_contain_text("Paused")
    page.screenshot(path=screenshots / "cluster-list-rolled-back.png")
    row.click()
    expect(page.get_by_test_id("paused-banner")).to_be_visible()

    # resume: Git (replicas 2) wins again
    page.get_by_test_id("resume-button").click()
    expect(page.get_by_test_id("paused-banner")).to_have_count(0)
    expect(page.get_by_test_id("resume-button")).to_have_count(0)
    expect(page.locator(PODS)).to_have_count(2)
    wait_for(
        lambda: cluster_deployment(tether_server, dest_namespace)["spec"]["replicas"] == 2,
        timeout=30,
        what="auto-sync to bring back replicas 2",
    )


def test_readonly_token_cannot_sync(
    page: Page, tether_server: TetherServer, finance_app: str, screenshots: Path
) -> None:
    sign_in(page, tether_server, tether_server.readonly_token, f"/apps/{finance_app}")
    expect(page.get_by_test_id("session")).to_contain_text("test-reader")
    expect(page.get_by_test_id("tree-node-Deployment-finance-api")).to_be_visible()
    expect(page.get_by_test_id("sync-button")).to_be_disabled()
    expect(page.get_by_test_id("refresh-button")).to_be_disabled()
    expect(page.get_by_test_id("readonly-hint")).to_be_visible()
    page.get_by_test_id("history-button").click()
    expect(page.get_by_test_id("history-dialog")).to_be_visible()
    page.screenshot(path=screenshots / "cluster-readonly.png")
    with tether_server.readonly() as http:
        r = http.post(f"/api/v1/apps/{finance_app}/sync", json={})
    assert r.status_code == 403, r.text
    # and the same from the browser with the token it holds
    code = page.evaluate(
        """async (name) => (await fetch(`/api/v1/apps/${name}/sync`, {method: 'POST',
             headers: {Authorization: `Bearer ${sessionStorage.getItem('tether.token')}`,
                       'Content-Type': 'application/json'}, body: '{}'})).status""",
        finance_app,
    )
    assert code == 403
