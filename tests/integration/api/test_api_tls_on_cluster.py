"""`tether controller --tls-cert --tls-key`: the API and UI only over HTTPS."""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.server import TETHER, _free_port
from tether.demo import self_signed_certificate
from tether.testenv import cluster as localcluster

TLS_NS = "tether-api-tls"


@pytest.fixture(scope="module")
def tls_server(
    installed: localcluster.ClusterState, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, Path]]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = self_signed_certificate(directory / "tls")
    with installed.client() as http:
        http.post(
            "/api/v1/namespaces",
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TLS_NS}},
        )
    port = _free_port()
    log = directory / "controller.log"
    proc = subprocess.Popen(
        [TETHER, "controller", "--kubeconfig", installed.kubeconfig,
         "--listen", f"127.0.0.1:{port}", "--app-namespace", TLS_NS,
         "--no-registry-credentials", "--allow-cluster-admin",
         "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
        env=dict(os.environ, TETHER_CACHE_DIR=str(directory / "cache")),
    )  # fmt: skip
    trust = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trust).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"tether controller did not serve TLS: {log.read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield f"127.0.0.1:{port}", cert, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_api_answers_over_tls_with_the_given_certificate(
    tls_server: tuple[str, Path, Path],
) -> None:
    address, cert, _ = tls_server
    trust = ssl.create_default_context(cafile=str(cert))
    r = httpx.get(f"https://{address}/api/v1/apps", verify=trust)
    assert r.status_code == 401  # served, and still needs a token
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"https://{address}/healthz")  # an unknown certificate is not trusted


def test_plain_http_gets_no_answer_from_a_tls_server(tls_server: tuple[str, Path, Path]) -> None:
    address, _, _ = tls_server
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{address}/api/v1/apps", timeout=5)


def test_tls_needs_both_the_certificate_and_the_key(tmp_path: Path) -> None:
    cert, _ = self_signed_certificate(tmp_path)
    out = subprocess.run(
        [TETHER, "controller", "--listen", "127.0.0.1:0", "--tls-cert", str(cert)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode != 0
    assert "--tls-cert and --tls-key go together" in out.stderr
