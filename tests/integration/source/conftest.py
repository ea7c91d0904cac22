"""Chart repositories for the chart source tests, built with the real helm.

``chart_repo`` serves ``helm package`` + ``helm repo index`` output from a
directory through a small static HTTP server that wants basic auth (a fresh
random password per test). ``charts.publish`` packages a tiny chart at a
version and re-indexes; ``charts.push_oci`` pushes it to the local
authenticated registry with ``helm push``. helm runs with HOME and its config
dirs in the test's temporary directory, so nothing is read from or written to
the machine's own helm setup.
"""

from __future__ import annotations

import base64
import os
import secrets
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fixtures.registry import reconciler, regcreds, registry_server
from tether.adapters.kube import KubeClient
from tether.testenv import pki as testpki
from tether.testenv.binaries import helm_path

__all__ = [
    "chart_repo",
    "charts",
    "reconciler",
    "regcreds",
    "registry_server",
    "repo_secrets",
    "tls_chart_repo",
]

CHART_YAML = "apiVersion: v2\nname: {name}\nversion: {version}\n{extra}"
TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Chart.Name }}-settings
data:
  chartVersion: {{ .Chart.Version | quote }}
  greeting: {{ .Values.greeting | quote }}
"""
APP_NS = "tether"


class _AuthHandler(SimpleHTTPRequestHandler):
    expected = ""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ChartRepo:
    """A directory of packaged charts and its index, served over HTTP with basic auth."""

    def __init__(
        self, root: Path, user: str, password: str, tls: ssl.SSLContext | None = None
    ) -> None:
        self.root = root
        self.scheme = "https" if tls else "http"
        self.user, self.password = user, password
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        handler = type("Handler", (_AuthHandler,), {"expected": f"Basic {token}"})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}/charts"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Charts:
    def __init__(self, work: Path) -> None:
        helm = helm_path()
        if not helm.exists():
            pytest.fail("helm not installed: run make tools")
        self.helm = str(helm)
        self.work = work
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(work / "home"),
            "HELM_CACHE_HOME": str(work / "home" / "cache"),
            "HELM_CONFIG_HOME": str(work / "home" / "config"),
            "HELM_DATA_HOME": str(work / "home" / "data"),
        }

    def helm_run(self, *args: str) -> str:
        done = subprocess.run(
            [self.helm, *args], env=self.env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def package(self, name: str, version: str, greeting: str = "hello", extra: str = "") -> Path:
        src = self.work / f"src-{name}-{version}" / name
        (src / "templates").mkdir(parents=True, exist_ok=True)
        (src / "Chart.yaml").write_text(CHART_YAML.format(name=name, version=version, extra=extra))
        (src / "values.yaml").write_text(f"greeting: {greeting}\n")
        (src / "templates" / "configmap.yaml").write_text(TEMPLATE)
        out = self.work / "packages"
        out.mkdir(exist_ok=True)
        self.helm_run("package", str(src), "-d", str(out))
        return out / f"{name}-{version}.tgz"

    def publish(self, repo: ChartRepo, name: str, version: str, **kw: str) -> None:
        """Package ``name`` at ``version`` into the repository and rebuild its index."""
        archive = self.package(name, version, **kw)
        target = repo.root / "charts"
        target.mkdir(parents=True, exist_ok=True)
        (target / archive.name).write_bytes(archive.read_bytes())
        self.helm_run("repo", "index", str(target))

    def push_oci(
        self, registry: Any, path: str, name: str, version: str, user: str, pw: str
    ) -> None:
        archive = self.package(name, version)
        self.helm_run(
            "push",
            str(archive),
            f"oci://{registry.host}/{path}",
            "--plain-http",
            f"--username={user}",
            f"--password={pw}",
        )


@pytest.fixture
def charts(tmp_path: Path) -> Charts:
    return Charts(tmp_path / "charts-work")


@pytest.fixture
def chart_repo(tmp_path: Path) -> Iterator[ChartRepo]:
    root = tmp_path / "chart-repo"
    root.mkdir()
    repo = ChartRepo(root, "reader", secrets.token_urlsafe(12))
    yield repo
    repo.close()


@pytest.fixture
def tls_chart_repo(tmp_path: Path, charts: Charts) -> Iterator[tuple[ChartRepo, testpki.Pki]]:
    keys = testpki.generate(tmp_path / "pki")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(keys.serving_cert, keys.serving_key)
    context.verify_mode = ssl.CERT_REQUIRED  # only clients with a certificate from our CA
    context.load_verify_locations(keys.ca_cert)
    root = tmp_path / "tls-repo"
    root.mkdir()
    repo = ChartRepo(root, "reader", secrets.token_urlsafe(12), tls=context)
    charts.publish(repo, "web", "1.0.0")
    yield repo, keys
    repo.close()


class RepoSecrets:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.created: list[str] = []

    async def create(self, **data: str) -> str:
        name = f"repo-{secrets.token_hex(3)}"
        await self.kube.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": name,
                    "namespace": APP_NS,
                    "labels": {"tether.dev/secret-type": "repository"},
                },
                "stringData": data,
            }
        )
        self.created.append(name)
        return name


@pytest.fixture
async def repo_secrets(kube: KubeClient, installed: Any) -> AsyncIterator[RepoSecrets]:
    helper = RepoSecrets(kube)
    yield helper
    for name in helper.created:
        await kube.delete("v1", "Secret", name, APP_NS)
