"""The local notification receiver and the notification ConfigMap/Secret helper."""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fixtures.tether import APP_NS
from tether.adapters.kube import KubeClient
from tether.engine import notifications as model


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.paths: list[str] = []  # the request path of each entry of received
        self.attempts = 0
        self.fail_first = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver.fail_first
                    if not failing:
                        receiver.received.append((dict(self.headers.items()), body))
                        receiver.paths.append(self.path)
                self.send_response(503 if failing else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class NotificationConfig:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.signing_secret = secrets.token_hex(16)

    async def set(self, services: dict[str, str]) -> None:
        for obj in (
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": model.SECRET, "namespace": APP_NS},
                "stringData": {"hmac": self.signing_secret},
            },
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": model.CONFIGMAP, "namespace": APP_NS},
                "data": services,
            },
        ):
            await self.kube.apply(obj, field_manager="test-admin", force=True)

    async def clear(self) -> None:
        for kind in ("Secret", "ConfigMap"):
            if await self.kube.get_or_none("v1", kind, model.SECRET, APP_NS):
                await self.kube.delete("v1", kind, model.SECRET, APP_NS)
