"""Custom templates reach the local receiver: the template's body, path and message, signed."""

from __future__ import annotations

import json
import secrets
from typing import Any

from notify_tools import NotificationConfig, Receiver

from fixtures.tether import APP_NS, Apps
from fixtures.waiting import await_for
from tether.controller.runtime import Controller
from tether.engine import application as appmodel
from tether.engine import notifications as model

SUBSCRIBE = "notifications.argoproj.io/subscribe"
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  colour: blue
"""
SYNCED = """\
title: "{{.app.metadata.name}} is live"
message: "{{.app.metadata.name | upper}} synced {{.revision | trunc 7}} ({{.context.env}})"
webhook:
  hook:
    path: /deploys/{{.app.metadata.name}}
    body: |
      {"app": {{.app.metadata.name | quote}}, "revision": "{{.revision}}",
       "env": "{{.context.env}}"}
"""


async def test_a_trigger_sends_its_templates_and_a_missing_field_is_a_named_failure(
    git_repo: Any,
    apps: Apps,
    controller: Controller,
    receiver: Receiver,
    notification_config: NotificationConfig,
    dest_namespace: str,
) -> None:
    controller.notifier.base_delay = 0.2
    chat = Receiver()
    try:
        await notification_config.set(
            {
                "service.webhook.hook": f"url: {receiver.url}\nsigningSecret: $hmac\n",
                "service.slack.chat": f"url: {chat.url}\n",
                "context": "env: staging\n",
                "template.synced": SYNCED,
                "template.needs-history": "message: '{{.app.status.nothing.here}}'\n",
                "trigger.on-sync-succeeded": (
                    "- when: app.status.operationState.phase in ['Succeeded']\n"
                    "  send: [synced, needs-history]\n"
                ),
            }
        )
        git_repo.commit({"apps/web/settings.yaml": CONFIGMAP})
        name = f"tmpl-{secrets.token_hex(3)}"
        await apps.kube.create(
            {
                "apiVersion": appmodel.API_VERSION,
                "kind": appmodel.KIND,
                "metadata": {
                    "name": name,
                    "namespace": APP_NS,
                    "annotations": {
                        f"{SUBSCRIBE}.on-sync-succeeded.hook": "",
                        f"{SUBSCRIBE}.on-sync-succeeded.chat": "#deploys",
                    },
                },
                "spec": {
                    "source": {
                        "repoURL": git_repo.git_url,
                        "path": "apps/web",
                        "targetRevision": "main",
                    },
                    "destination": {"namespace": dest_namespace},
                    "syncPolicy": {"syncOptions": ["CreateNamespace=true"], "automated": {}},
                },
            }
        )
        apps.created.append(name)
        head = git_repo.head()

        async def hook_heard() -> tuple[dict[str, str], bytes, str] | None:
            with receiver.lock:
                heard = list(zip(receiver.received, receiver.paths, strict=True))
            for (headers, body), path in heard:
                if json.loads(body).get("app") == name:
                    return headers, body, path
            return None

        headers, body, path = await await_for(hook_heard, timeout=60, what="templated webhook")
        assert json.loads(body) == {"app": name, "revision": head, "env": "staging"}
        assert path == f"/hook/deploys/{name}"
        assert model.verify(
            notification_config.signing_secret, body, headers[model.SIGNATURE_HEADER]
        )
        assert headers["X-Tether-Trigger"] == model.SYNC_SUCCEEDED

        async def chat_heard() -> dict[str, Any] | None:
            return next(iter(chat.bodies()), None)

        slack = await await_for(chat_heard, timeout=30, what="templated Slack message")
        assert slack["text"] == f"{name.upper()} synced {head[:7]} (staging)"
        assert slack["attachments"][0]["title"] == f"{name} is live"
        assert slack["channel"] == "#deploys"

        async def failures() -> list[dict[str, Any]] | None:
            found = await apps.events(name, "NotificationFailed")
            return found if len(found) >= 2 else None

        events = await await_for(failures, timeout=30, what="NotificationFailed for the template")
        for event in events:
            assert "template needs-history message" in event["message"]
            assert "'nothing'" in event["message"]
        assert {e["message"].split(":")[0] for e in events} == {
            f"{model.SYNC_SUCCEEDED} to hook",
            f"{model.SYNC_SUCCEEDED} to chat",
        }
        assert len(receiver.received) == 1 and len(chat.received) == 1
    finally:
        chat.close()
