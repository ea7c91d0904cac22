"""A sync marks the exact commit it synced on a real Gitea: success, then failure.

Real parts: Gitea (built from the Go module proxy, sqlite), the local control
plane, and a Controller whose notifier holds a ``service.gitea`` commit-status
service with the admin's token in the notifications Secret. The app deploys
from the Gitea repository over HTTP; its statuses are read back through
Gitea's API.
"""

from __future__ import annotations

from typing import Any

from forge_tools import NotificationSettings, create_app

from fixtures.gitea import GiteaRepo
from fixtures.tether import Apps
from fixtures.waiting import await_for
from tether.controller.runtime import Controller
from tether.testenv.gitea import GiteaServer

SUBSCRIBE = "notifications.argoproj.io/subscribe"
CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: "{greeting}"
"""
BROKEN = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  replicas: -1
  selector:
    matchLabels: {app: broken}
  template:
    metadata:
      labels: {app: broken}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1
"""


async def test_a_sync_sets_success_on_its_commit_and_a_failed_sync_sets_failure(
    gitea_server: GiteaServer,
    gitea_repo: GiteaRepo,
    apps: Apps,
    controller: Controller,
    forge_notifications: NotificationSettings,
    dest_namespace: str,
) -> None:
    controller.notifier.base_delay = 0.2
    await forge_notifications.set(
        {
            "service.gitea": (
                f"apiURL: {gitea_server.url}\ntoken: $gitea-token\n"
                "targetURL: https://tether.example.com/applications/{app}\n"
            )
        },
        {"gitea-token": gitea_server.token},
    )
    older = gitea_repo.commit({"apps/web/config.yaml": CONFIG.format(greeting="hi")})
    synced = gitea_repo.commit({"apps/web/config.yaml": CONFIG.format(greeting="hello")})
    annotations = {
        f"{SUBSCRIBE}.on-sync-succeeded.gitea": "",
        f"{SUBSCRIBE}.on-sync-failed.gitea": "",
    }
    app = await create_app(apps, gitea_repo.url, "apps/web", dest_namespace, annotations)

    async def status_of(sha: str, state: str) -> dict[str, Any] | None:
        found = [s for s in gitea_repo.statuses(sha) if s.get("context") == f"tether/{app}"]
        return found[0] if found and found[0]["status"] == state else None

    ok = await await_for(
        lambda: status_of(synced, "success"), timeout=90, what="success status on the commit"
    )
    assert ok["description"] == "Synced"
    assert ok["target_url"] == f"https://tether.example.com/applications/{app}"
    assert gitea_repo.statuses(older) == []  # only the synced commit is marked

    broken = gitea_repo.commit({"apps/web/broken.yaml": BROKEN}, "a broken Deployment")
    failed = await await_for(
        lambda: status_of(broken, "failure"), timeout=90, what="failure status on the commit"
    )
    assert failed["description"].startswith("Sync failed")
    assert gitea_server.token not in str(failed)
    # the earlier commit keeps its own verdict
    assert [s["status"] for s in gitea_repo.statuses(synced)] == ["success"]
