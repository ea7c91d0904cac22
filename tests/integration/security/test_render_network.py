"""Renderers have no network: a kustomization cannot make the controller fetch a URL.

A local HTTP server stands in for a cloud metadata endpoint. The static check
refuses the reference before kustomize runs; and even when kustomize is run
on it directly (the second wall alone), it runs in a network namespace with
nothing but loopback, so the server never sees a request. The control case,
kustomize with the controller's network, shows the attack is real.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tether.adapters.render import RenderError, render, sandbox
from tether.adapters.render.kustomize import find_kubectl

CM = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  k: v\n"


class Metadata(ThreadingHTTPServer):
    requests: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: Metadata

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(CM)))
        self.end_headers()
        self.wfile.write(CM)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def metadata() -> Iterator[Metadata]:
    server = Metadata(("127.0.0.1", 0), _Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(server: Metadata, path: str = "/latest/cm.yaml") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def write_kustomization(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kustomization.yaml").write_text(text)
    return root


def run_kustomize(directory: Path, *, allow_network: bool) -> sandbox.ToolResult:
    return sandbox.run_tool(
        [find_kubectl(), "kustomize", str(directory)],
        name="kustomize",
        where="app",
        env={"PATH": "/usr/bin:/bin", "HOME": str(directory)},
        cwd=directory,
        timeout=60,
        allow_network=allow_network,
    )


@pytest.mark.parametrize(
    "template",
    [
        "resources: ['{url}']\n",
        "resources: ['{upper}']\n",
        "configMapGenerator:\n- name: meta\n  files: ['{url}']\n",
        "patches:\n- path: '{url}'\n",
    ],
    ids=["resources", "upper-case scheme", "configMapGenerator files", "patches path"],
)
def test_a_url_in_a_kustomization_is_refused_and_never_fetched(
    metadata: Metadata, template: str
) -> None:
    target = url(metadata)
    text = template.format(url=target, upper=target.replace("http://", "HTTP://"))
    files = {"app/kustomization.yaml": text.encode()}
    with pytest.raises(RenderError, match="remote reference") as info:
        render(files, {"path": "app"})
    assert info.value.file == "app/kustomization.yaml"
    assert metadata.requests == []


def test_kustomize_itself_runs_without_network(metadata: Metadata, tmp_path: Path) -> None:
    app = write_kustomization(tmp_path / "app", f"resources: ['{url(metadata)}']\n")
    done = run_kustomize(app, allow_network=False)
    assert done.returncode != 0
    assert metadata.requests == []


def test_with_the_controllers_network_kustomize_would_fetch(
    metadata: Metadata, tmp_path: Path
) -> None:
    """The control case: the attack is real when nothing stops it."""
    app = write_kustomization(tmp_path / "app", f"resources: ['{url(metadata)}']\n")
    done = run_kustomize(app, allow_network=True)
    assert metadata.requests, done.stderr
    assert "stolen" in done.stdout


def test_no_network_namespace_fails_closed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sandbox, "isolation_prefix", lambda: None)
    monkeypatch.delenv(sandbox.ALLOW_NETWORK_ENV, raising=False)
    files = {
        "app/kustomization.yaml": b"resources: [cm.yaml]\n",
        "app/cm.yaml": CM,
    }
    with pytest.raises(RenderError, match=sandbox.ALLOW_NETWORK_ENV):
        render(files, {"path": "app"})
    monkeypatch.setenv(sandbox.ALLOW_NETWORK_ENV, "1")
    assert render(files, {"path": "app"})[0]["metadata"]["name"] == "stolen"
