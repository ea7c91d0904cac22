"""The web UI end to end in Chromium, against the API over a fake control plane.

Checks what a person sees: sign-in, the live list (1,003 apps), the resource
tree with rollout history, the diagnosis of a Degraded app, actions for admins
and disabled actions for read-only tokens. Screenshots land in
test-artifacts/screenshots/ for a human look.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from ui_server import ADMIN_TOKEN, READER_TOKEN, Served

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page: Page, served: Served, token: str, path: str = "/") -> None:
    page.goto(served.url + path)
    expect(page.get_by_test_id("login-form")).to_be_visible()
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("session")).to_be_visible()


def test_sign_in_rejects_a_bad_token(page: Page, served: Served, screenshots: Path) -> None:
    page.goto(served.url + "/")
    page.get_by_test_id("token-input").fill("not-a-token")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("not valid")
    page.screenshot(path=screenshots / "login.png")


def test_list_shows_apps_live_and_filters(page: Page, served: Served, screenshots: Path) -> None:
    sign_in(page, served, ADMIN_TOKEN)
    row = page.get_by_test_id("app-row-guestbook")
    expect(row).to_be_visible()
    expect(row.get_by_test_id("health-badge")).to_have_text("Healthy")
    expect(row.get_by_test_id("sync-badge")).to_contain_text("Synced")
    expect(row).to_contain_text("3f9c2e1")
    expect(row).to_contain_text("Bump image to 1.4.2")
    expect(page.get_by_test_id("app-count")).to_have_text("1,003")
    expect(page.get_by_test_id("live-state")).to_have_text("live")
    # windowed: only the rows in view exist, however many apps there are
    assert page.locator("[data-testid^=app-row-]").count() < 60
    page.screenshot(path=screenshots / "app-list.png")

    page.get_by_test_id("filter-health-Degraded").click()
    expect(page.get_by_test_id("app-count")).to_have_text("1 of 1,003")
    expect(page.get_by_test_id("app-row-finance-api")).to_be_visible()
    expect(row).to_have_count(0)
    page.screenshot(path=screenshots / "app-list-degraded.png")
    page.get_by_test_id("filter-health-Degraded").click()
    page.get_by_test_id("search").fill("svc-0999")
    expect(page.get_by_test_id("app-count")).to_have_text("1 of 1,003")
    expect(page.get_by_test_id("app-row-svc-0999")).to_be_visible()


def test_app_page_draws_the_tree_and_updates_live(
    page: Page, served: Served, screenshots: Path
) -> None:
    sign_in(page, served, ADMIN_TOKEN, "/apps/guestbook")
    expect(page.get_by_test_id("app-title")).to_have_text("guestbook")
    expect(page.get_by_test_id("tree-node-Deployment-guestbook")).to_be_visible()
    old_rs = page.get_by_test_id("tree-node-ReplicaSet-guestbook-5d8f7c9b4")
    expect(old_rs.get_by_test_id("history-badge")).to_have_text("rollout history")
    expect(old_rs.get_by_test_id("rs-revision")).to_have_text("rev 1")
    pod = page.get_by_test_id("tree-node-Pod-guestbook-7d9c6b5f8-x2kqp")
    expect(pod.get_by_test_id("node-status")).to_have_text("Running")
    expect(page.get_by_test_id("diagnosis-banner")).to_have_count(0)

    loop = served.service.loop
    assert loop is not None
    loop.call_soon_threadsafe(served.service.add_pod, "guestbook", "guestbook-7d9c6b5f8-new01")
    new_pod = page.get_by_test_id("tree-node-Pod-guestbook-7d9c6b5f8-new01")
    expect(new_pod).to_be_visible()
    expect(new_pod.get_by_test_id("node-status")).to_have_text("Pending")
    page.screenshot(path=screenshots / "app-tree.png")

    page.get_by_test_id("tree-node-Secret-guestbook-db").click()
    panel = page.get_by_test_id("side-panel")
    expect(panel.get_by_test_id("panel-manifest")).to_contain_text("password: ++++++++")
    expect(panel).not_to_contain_text("aHVudGVyMg")
    page.screenshot(path=screenshots / "app-panel-secret.png")
    page.get_by_test_id("tree-node-Deployment-guestbook").click()
    page.get_by_test_id("panel-tab-diff").click()
    expect(panel.get_by_test_id("panel-diff")).to_contain_text("replicas: 3")
    page.screenshot(path=screenshots / "app-panel-diff.png")


def test_degraded_app_shows_the_diagnosis(page: Page, served: Served, screenshots: Path) -> None:
    sign_in(page, served, ADMIN_TOKEN, "/apps/finance-api")
    banner = page.get_by_test_id("diagnosis-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("ImagePullBackOff")
    expect(banner.get_by_test_id("next-step")).to_contain_text("tether registry list")
    expect(page.get_by_test_id("health-badge")).to_have_text("Degraded")
    page.screenshot(path=screenshots / "app-degraded.png")


def test_readonly_sees_actions_disabled(page: Page, served: Served, screenshots: Path) -> None:
    sign_in(page, served, READER_TOKEN, "/apps/finance-api")
    sync = page.get_by_test_id("sync-button")
    expect(sync).to_be_disabled()
    expect(page.get_by_test_id("refresh-button")).to_be_disabled()
    wrapper = page.locator(".action", has=sync)
    expect(wrapper).to_have_attribute("title", re.compile(r"read-only.*--role admin"))
    expect(page.get_by_test_id("readonly-hint")).to_be_visible()
    page.get_by_test_id("history-button").click()
    expect(page.get_by_test_id("rollback-0")).to_be_disabled()
    page.screenshot(path=screenshots / "readonly.png")


def test_admin_syncs_rolls_back_and_resumes(page: Page, served: Served, screenshots: Path) -> None:
    service = served.service
    sign_in(page, served, ADMIN_TOKEN, "/apps/paused-app")
    expect(page.get_by_test_id("paused-banner")).to_be_visible()
    page.get_by_test_id("sync-button").click()
    dialog = page.get_by_test_id("sync-dialog")
    expect(dialog).to_be_visible()
    page.get_by_test_id("sync-revision").fill("v1.4.2")
    page.get_by_test_id("sync-resource-Deployment-paused-app").check()
    page.screenshot(path=screenshots / "sync-dialog.png")
    page.get_by_test_id("sync-confirm").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_test_id("toast").first).to_contain_text("sync started")
    sync = next(a for a in service.actions if a[0] == "sync" and a[2].revision == "v1.4.2")
    assert sync[1] == "alice"
    assert sync[2].resources == ("apps/Deployment/paused-app",)

    page.get_by_test_id("history-button").click()
    rollback = page.get_by_test_id("rollback-0")
    rollback.click()
    expect(rollback).to_have_text("Confirm rollback")
    page.screenshot(path=screenshots / "history.png")
    rollback.click()
    expect(page.get_by_test_id("history-dialog")).to_have_count(0)
    assert ("rollback", "alice", 0) in service.actions

    page.get_by_test_id("resume-button").click()
    expect(page.get_by_test_id("resume-button")).to_have_count(0)
    expect(page.get_by_test_id("paused-banner")).to_have_count(0)
    assert ("resume", "alice", None) in service.actions


def test_registry_page(page: Page, served: Served, screenshots: Path) -> None:
    sign_in(page, served, ADMIN_TOKEN, "/registries")
    card = page.get_by_test_id("registry-ecr-prod")
    expect(card).to_be_visible()
    expect(page.get_by_test_id("registry-ns-finance-api")).to_contain_text("AccessDenied")
    expect(page.get_by_test_id("registry-ns-guestbook")).to_contain_text("in ")
    page.screenshot(path=screenshots / "registries.png")


def test_app_page_shows_a_sync_window_condition(
    page: Page, served: Served, screenshots: Path
) -> None:
    served.service.apps["svc-0000"]["status"]["conditions"] = [
        {
            "type": "SyncWindow",
            "reason": "Denied",
            "message": "auto-sync denied by the deny window 'freeze' (0 22 * * *, 8h) of project",
        }
    ]
    sign_in(page, served, READER_TOKEN, "/apps/svc-0000")
    banner = page.get_by_test_id("condition-SyncWindow")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Sync window")
    expect(banner).to_contain_text("deny window 'freeze'")
    page.screenshot(path=screenshots / "sync-window.png")
