"""Runs the API over the fake AppService with uvicorn in a background thread.

A real server (not TestClient) because the browser needs a socket and the
streams need a long-lived connection.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "api"))

from api_fakes import ADMIN_TOKEN, READER_TOKEN, FakeAppService, FakeRegistries

from tether.api import Auth, create_app, hash_token

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parents[2] / "test-artifacts" / "screenshots"


class Served:
    def __init__(self, service: FakeAppService) -> None:
        auth = Auth(
            {
                hash_token(ADMIN_TOKEN): ("alice", "admin"),
                hash_token(READER_TOKEN): ("bob", "readonly"),
            }
        )
        app = create_app(service, FakeRegistries(), auth, CollectorRegistry())
        self.service = service
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
