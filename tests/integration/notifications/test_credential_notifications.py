"""A RegistryCredential whose refresh starts failing tells the services it subscribes."""

from __future__ import annotations

import json
import secrets
from typing import Any

from notify_tools import NotificationConfig, Receiver

from fixtures.registry import RegistryServer
from fixtures.tether import APP_NS
from fixtures.waiting import await_for
from tether.controller.runtime import Controller
from tether.engine import notifications as model

API = "tether.dev/v1alpha1"
SUBSCRIBE = "notifications.argoproj.io/subscribe"


async def test_a_failing_refresh_is_delivered_once_signed(
    controller: Controller,
    receiver: Receiver,
    notification_config: NotificationConfig,
    registry_server: RegistryServer,
    dest_namespace: str,
) -> None:
    kube = controller.kube
    await notification_config.set(
        {"service.webhook.hook": f"url: {receiver.url}\nsigningSecret: $hmac\n"}
    )
    name = f"notify-{secrets.token_hex(3)}"
    user, password = registry_server.add_user(name)
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": dest_namespace},
        }
    )
    login = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": APP_NS}}
    await kube.create({**login, "stringData": {"username": user, "password": password}})
    await kube.create(
        {
            "apiVersion": API,
            "kind": "RegistryCredential",
            "metadata": {
                "name": name,
                "annotations": {f"{SUBSCRIBE}.{model.CREDENTIAL_REFRESH_FAILED}.hook": ""},
            },
            "spec": {
                "registry": registry_server.host,
                "provider": {"type": "basic", "basic": {"secretRef": {"name": name}}},
                "secretName": "pull",
                "namespaces": {"names": [dest_namespace]},
            },
        }
    )
    try:

        async def ready() -> bool:
            obj = await kube.get(API, "RegistryCredential", name)
            conds = (obj.get("status") or {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

        await await_for(ready, timeout=30, what="the credential Ready")
        # The login Secret loses its password: the next refresh fails (BadSecret).
        await kube.merge_patch("v1", "Secret", name, {"data": {"password": None}}, APP_NS)

        async def not_ready() -> dict[str, Any] | None:
            obj = await kube.get(API, "RegistryCredential", name)
            conds = (obj.get("status") or {}).get("conditions") or []
            found = [c for c in conds if c["type"] == "Ready" and c["status"] == "False"]
            return found[0] if found else None

        await await_for(not_ready, timeout=60, what="Ready False")

        async def delivered() -> list[tuple[dict[str, str], bytes]]:
            return [(h, b) for h, b in list(receiver.received) if json.loads(b)["app"] == name]

        [(headers, body)] = await await_for(delivered, timeout=60, what="refresh-failed notice")
        data = json.loads(body)
        assert data["trigger"] == model.CREDENTIAL_REFRESH_FAILED
        assert data["details"]["reason"] == "BadSecret"
        assert password not in body.decode()
        signature = headers[model.SIGNATURE_HEADER]
        assert model.verify(notification_config.signing_secret, body, signature)
    finally:
        await kube.delete(API, "RegistryCredential", name)
        await kube.delete("v1", "Secret", name, APP_NS)
