"""A push webhook makes the controller sync a new commit now, not at the next poll.

The controller here polls Git every 300 s, so only the refresh can explain a
sync within the test's timeout.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fixtures.tether import Apps, example_files
from tether.controller.runtime import Controller
from tether.engine import webhook

CONFIGMAP = "apps/finance/configmap.yaml"


@pytest.fixture
def poll_interval() -> float:
    return 300.0


async def test_refresh_repo_syncs_a_new_commit_without_waiting_for_the_poll(
    git_repo: Any, apps: Apps, controller: Controller, dest_namespace: str
) -> None:
    files = example_files()
    git_repo.commit(files)
    name = await apps.create(
        git_repo.git_url, dest=dest_namespace, automated={"prune": True, "selfHeal": True}
    )
    await apps.wait_synced(name)

    sha = git_repo.commit(
        {CONFIGMAP: files[CONFIGMAP].replace("info", "debug")}, message="debug logging"
    )
    # What the webhook handler does with a verified push for this repository.
    body = json.dumps(
        {"ref": "refs/heads/main", "repository": {"clone_url": git_repo.git_url}}
    ).encode()
    push = webhook.parse(
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": webhook.sign("s", body)}, body, "s"
    )
    assert push is not None
    hit = [n for url in push.urls for n in controller.refresh_repo(url)]
    assert hit == [name]

    st = await apps.wait_synced(name, revision=sha)
    assert st["history"][-1]["message"] == "debug logging"
    cm = await apps.kube.get("v1", "ConfigMap", "finance-api-config", dest_namespace)
    assert cm["data"]["LOG_LEVEL"] == "debug"


async def test_refresh_of_another_repository_touches_no_app(
    git_repo: Any, git_server: Any, apps: Apps, controller: Controller, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    name = await apps.create(git_repo.git_url, dest=dest_namespace)
    await apps.wait(name, lambda s: s.get("sync", {}).get("status") == "OutOfSync", "OutOfSync")
    other = git_server.create_repo()
    assert controller.refresh_repo(other.git_url) == []
    assert controller.refresh_repo(git_repo.git_url.removesuffix(".git")) == [name]
