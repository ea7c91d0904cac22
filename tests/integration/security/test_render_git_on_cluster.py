"""The render and Git attacks against a running controller on the real control plane.

Each one is pushed (or pointed at) as a repository writer or app creator
would: the app gets a condition naming the rule, nothing of the attack is
applied, and other apps keep syncing.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fixtures.tether import Apps, condition
from tether.adapters.git import timeouts

IDLE = 3.0
LOLS = ", ".join(['"lol"'] * 9)
BOMB = f"a: &a [{LOLS}]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"


@pytest.fixture
def short_timeouts() -> Iterator[None]:
    timeouts.apply(connect=IDLE, idle=IDLE)
    yield
    timeouts.apply(connect=timeouts.CONNECT_TIMEOUT, idle=timeouts.IDLE_TIMEOUT)


class SilentServer:
    """Accepts every connection and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.accepted.append(self.sock.accept()[0])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self.sock.close()
        for conn in self.accepted:
            conn.close()


class Metadata(ThreadingHTTPServer):
    """Stands in for a cloud metadata endpoint; records every request."""

    requests: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: Metadata

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"secret-role-credentials")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def metadata() -> Iterator[Metadata]:
    server = Metadata(("127.0.0.1", 0), _Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def has_condition(kind: str, *needles: str) -> Any:
    def check(st: dict[str, Any]) -> bool:
        cond = condition(st, kind)
        return cond is not None and all(n in cond["message"] for n in needles)

    return check


async def configmaps(apps: Apps, namespace: str) -> set[str]:
    api = await apps.kube.resource_for("v1", "ConfigMap")
    items, _ = await apps.kube.list(api, namespace)
    return {o["metadata"]["name"] for o in items}


async def test_a_silent_git_server_is_reported_and_others_keep_syncing(
    short_timeouts: None, silent: SilentServer, controller: Any, apps: Apps, git_server: Any,
    dest_namespace: str,
) -> None:  # fmt: skip
    stuck = [
        await apps.create(
            f"git://127.0.0.1:{silent.port}/silent.git", path="app", dest=dest_namespace
        )
        for _ in range(3)
    ]
    healthy = git_server.create_repo(files={"app/cm.yaml": CM.format(name="healthy")})
    good = await apps.create(healthy.git_url, path="app", dest=dest_namespace, automated={})
    await apps.wait_synced(good)
    assert "healthy" in await configmaps(apps, dest_namespace)
    for name in stuck:
        await apps.wait(name, has_condition("ComparisonError", "idle timeout"), "idle timeout")


async def test_an_alias_bomb_is_refused_naming_file_and_limit(
    controller: Any, apps: Apps, git_repo: Any, dest_namespace: str
) -> None:
    git_repo.commit({"app/cm.yaml": CM.format(name="before")})
    name = await apps.create(git_repo.git_url, path="app", dest=dest_namespace, automated={})
    await apps.wait_synced(name)
    git_repo.commit({"app/bomb.yaml": BOMB, "app/next.yaml": CM.format(name="after")})
    await apps.wait(name, has_condition("ComparisonError", "app/bomb.yaml", "limit"), "bomb")
    assert "after" not in await configmaps(apps, dest_namespace)


async def test_a_kustomization_url_is_refused_and_never_fetched(
    controller: Any, apps: Apps, git_repo: Any, dest_namespace: str, metadata: Metadata
) -> None:
    url = f"HTTP://127.0.0.1:{metadata.server_address[1]}/latest/meta-data"
    git_repo.commit(
        {
            "app/kustomization.yaml": f"configMapGenerator:\n- name: stolen\n  files: [{url}]\n",
        }
    )
    name = await apps.create(git_repo.git_url, path="app", dest=dest_namespace, automated={})
    await apps.wait(
        name,
        has_condition("ComparisonError", "configMapGenerator[0] files", "remote reference"),
        "remote reference refused",
    )
    assert metadata.requests == []
    assert not any(n.startswith("stolen") for n in await configmaps(apps, dest_namespace))
