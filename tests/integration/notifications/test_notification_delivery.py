"""Every trigger reaches a local HTTP receiver, signed; a failing receiver slows nothing.

One app lives through a sync, a drift revert, an image update, a Degraded
rollout and its fix, and a refused commit; a signed webhook subscribed to all
of them hears each once. A receiver that fails twice gets the notice on the
third try; a receiver that is down leaves a NotificationFailed Event while the
app keeps syncing.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from typing import Any

from notify_tools import NotificationConfig, Receiver

from fixtures.gitserver import free_port
from fixtures.registry import RegistryServer
from fixtures.tether import APP_NS, Apps
from fixtures.waiting import await_for
from tether.controller.runtime import Controller
from tether.engine import application as appmodel
from tether.engine import notifications as model

SUBSCRIBE = "notifications.argoproj.io/subscribe"
DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  progressDeadlineSeconds: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
{extra}      containers:
        - name: web
          image: registry.example.com/web:1
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


def image_config(image: str, policy: str) -> str:
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-image\ndata:\n"
        f'  image: {image}:1.0.0 # {{"$imagepolicy": "{APP_NS}:{policy}"}}\n'
    )


async def create_app(apps: Apps, repo_url: str, dest: str, annotations: dict[str, str]) -> str:
    name = f"notify-{secrets.token_hex(3)}"
    await apps.kube.create(
        {
            "apiVersion": appmodel.API_VERSION,
            "kind": appmodel.KIND,
            "metadata": {"name": name, "namespace": APP_NS, "annotations": annotations},
            "spec": {
                "source": {"repoURL": repo_url, "path": "apps/web", "targetRevision": "main"},
                "destination": {"namespace": dest},
                "syncPolicy": {
                    "syncOptions": ["CreateNamespace=true"],
                    "automated": {"prune": True, "selfHeal": True},
                },
            },
        }
    )
    apps.created.append(name)
    return name


async def test_each_trigger_is_delivered_signed_and_failures_are_retried_or_reported(
    git_repo: Any,
    apps: Apps,
    controller: Controller,
    receiver: Receiver,
    notification_config: NotificationConfig,
    registry_server: RegistryServer,
    kubectl: Callable[..., str],
    dest_namespace: str,
) -> None:
    controller.notifier.base_delay = 0.2
    flaky = Receiver()
    flaky.fail_first = 2
    try:
        await notification_config.set(
            {
                "service.webhook.hook": f"url: {receiver.url}\nsigningSecret: $hmac\n",
                "service.slack.flaky": f"url: {flaky.url}\n",
                "service.webhook.dead": f"url: http://127.0.0.1:{free_port()}/gone\n",
            }
        )
        repository = f"team/web-{secrets.token_hex(3)}"
        registry_server.push_image(repository, "1.0.0", "ci", registry_server.users["ci"])
        image = f"{registry_server.host}/{repository}"
        policy = f"web-{secrets.token_hex(3)}"
        git_repo.commit(
            {
                "apps/web/deployment.yaml": DEPLOY.format(extra=""),
                "apps/web/image.yaml": image_config(image, policy),
            }
        )
        annotations = {f"{SUBSCRIBE}.{t}.hook": "" for t in model.APP_TRIGGERS}
        annotations[f"{SUBSCRIBE}.on-sync-succeeded.flaky"] = "#deploys"
        annotations[f"{SUBSCRIBE}.on-sync-succeeded.dead"] = ""
        app = await create_app(apps, git_repo.git_url, dest_namespace, annotations)

        async def heard(trigger: str) -> dict[str, Any]:
            async def probe() -> dict[str, Any] | None:
                for headers, body in list(receiver.received):
                    data = json.loads(body)
                    if data["trigger"] == trigger and data["app"] == app:
                        signature = headers.get(model.SIGNATURE_HEADER, "")
                        assert model.verify(notification_config.signing_secret, body, signature)
                        return dict(data)
                return None

            return await await_for(probe, timeout=60, what=f"{trigger} delivered")

        synced = await heard(model.SYNC_SUCCEEDED)
        assert synced["revision"] == git_repo.head()

        # A receiver failing twice gets it on the third attempt, as Slack's payload.
        async def flaky_got_it() -> bool:
            return bool(flaky.bodies())

        await await_for(flaky_got_it, timeout=30, what="the flaky receiver's delivery")
        assert flaky.attempts == 3
        assert flaky.bodies()[0]["channel"] == "#deploys"

        # A dead receiver: retried, then an Event; the app went on syncing meanwhile.
        async def failed_event() -> list[dict[str, Any]]:
            return await apps.events(app, "NotificationFailed")

        [event] = await await_for(failed_event, timeout=30, what="NotificationFailed event")
        assert "dead" in event["message"] and "4 attempts" in event["message"]

        kubectl("scale", "deployment/web", "--replicas=3", "-n", dest_namespace)
        await heard(model.DRIFT_REVERTED)

        await apps.kube.create(
            {
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "ImagePolicy",
                "metadata": {"name": policy, "namespace": APP_NS},
                "spec": {
                    "image": image,
                    "secretRef": {"name": await pull_secret(apps, registry_server)},
                    "interval": "1s",
                    "policy": {"semver": {"range": "1.x"}},
                    "writeBack": {"repoURL": git_repo.git_url, "paths": ["apps/web"]},
                },
            }
        )
        try:
            registry_server.push_image(repository, "1.1.0", "ci", registry_server.users["ci"])
            updated = await heard(model.IMAGE_UPDATED)
            assert updated["details"]["tag"] == "1.1.0"
        finally:
            await apps.kube.delete("tether.dev/v1alpha1", "ImagePolicy", policy, APP_NS)
        git_repo.git("pull", "-q", "origin", "main")

        git_repo.commit(
            {
                "apps/web/deployment.yaml": DEPLOY.format(
                    extra="      nodeSelector:\n        nowhere: x\n"
                )
            }
        )
        await heard(model.HEALTH_DEGRADED)
        git_repo.commit({"apps/web/deployment.yaml": DEPLOY.format(extra="")})
        await heard(model.HEALTH_RECOVERED)

        git_repo.commit({"apps/web/broken.yaml": BROKEN})
        failed = await heard(model.SYNC_FAILED)
        assert failed["revision"] == git_repo.head()

        triggers = [b["trigger"] for b in receiver.bodies() if b["app"] == app]
        for trigger in model.APP_TRIGGERS:
            assert trigger in triggers
        assert triggers.count(model.DRIFT_REVERTED) == 1
    finally:
        flaky.close()


async def pull_secret(apps: Apps, registry: RegistryServer) -> str:

    name = f"pull-{secrets.token_hex(3)}"
    login = base64.b64encode(f"ci:{registry.users['ci']}".encode()).decode()
    await apps.kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": name, "namespace": APP_NS},
            "stringData": {
                ".dockerconfigjson": json.dumps({"auths": {registry.host: {"auth": login}}})
            },
        }
    )
    return name
