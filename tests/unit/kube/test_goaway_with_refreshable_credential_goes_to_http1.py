"""A request cut off by GOAWAY: sent again over HTTP/2 when the credential is fixed,
sent at once over HTTP/1.1 when it can be refreshed (the API server answers a
rejected credential over HTTP/2 with GOAWAY, over HTTP/1.1 with the 401 that
refreshes it)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tether.adapters.kube import connection
from tether.adapters.kube.client import KubeClient
from tether.adapters.kube.config import ConnectionConfig


class Server:
    """HTTP/2 that always goes away; HTTP/1.1 that answers."""

    def __init__(self) -> None:
        self.http2_attempts = 0
        self.http1_attempts = 0

    def http2(self, request: httpx.Request) -> httpx.Response:
        self.http2_attempts += 1
        raise httpx.RemoteProtocolError("<ConnectionTerminated error_code:0>", request=request)

    def http1(self, request: httpx.Request) -> httpx.Response:
        self.http1_attempts += 1
        return httpx.Response(200, json={"kind": "NamespaceList", "items": []})


def client_for(server: Server, *, token_file: str | None) -> KubeClient:
    conn = ConnectionConfig(
        server="https://api.example",
        ca_file=None,
        token=None if token_file else "fixed",
        cert_file=None,
        key_file=None,
        insecure=True,
        namespace="default",
        token_file=token_file,
    )
    kube = KubeClient(conn, transport="httpcore")  # the HTTP/2 side is httpx's mock here
    kube.mux = connection.MultiplexedConnection(
        lambda: httpx.AsyncClient(
            base_url=conn.server, transport=httpx.MockTransport(server.http2)
        ),
        30.0,
    )
    kube.watch_http = httpx.AsyncClient(
        base_url=conn.server, transport=httpx.MockTransport(server.http1)
    )
    return kube


async def test_a_refreshable_credential_goes_to_http1_after_the_first_goaway(
    tmp_path: Path,
) -> None:
    token = tmp_path / "token"
    token.write_text("projected")
    server = Server()
    kube = client_for(server, token_file=str(token))
    try:
        answer = await kube.request("GET", "/api/v1/namespaces")
    finally:
        await kube.close()
    assert answer["kind"] == "NamespaceList"
    assert (server.http2_attempts, server.http1_attempts) == (1, 1)


async def test_a_fixed_credential_is_sent_again_over_http2_then_fails() -> None:
    server = Server()
    kube = client_for(server, token_file=None)
    try:
        try:
            await kube.request("GET", "/api/v1/namespaces")
        except httpx.RemoteProtocolError:
            pass
        else:
            raise AssertionError("a request that never gets through must fail")
    finally:
        await kube.close()
    assert server.http2_attempts == connection.GOAWAY_RETRIES + 1
    assert server.http1_attempts == 0
