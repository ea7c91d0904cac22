"""HTTP/2 to the API server in native code: httpx on top, hyper (through pyreqwest) below.

Measured with ``python -m bench.httpcost``, httpcore's HTTP/2 (h2: framing and HPACK in
Python) costs the controller about 4 ms of CPU per request; this transport under the
same httpx client, about 1.8 ms. httpx stays the interface, so authentication flows
(token files, exec plugins), timeouts and error handling work as they did.

Short requests only: a whole answer is read before it is handed on, and watches keep
their own HTTP/1.1 client. A connection that needs what this transport does not carry
(a TLS server name other than the URL's host, a proxy, a client certificate an exec
plugin renews) keeps httpcore's transport, as does every connection when
``TETHER_KUBE_TRANSPORT=httpcore`` is set: rustls, under hyper, refuses some certificates
OpenSSL takes (a CA certificate serving as the server's own, a certificate without a
subject alternative name), and an API server with one of those stays reachable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import httpx
from pyreqwest import exceptions
from pyreqwest.client import Client, ClientBuilder

from tether.adapters.kube.config import ConnectionConfig

TRANSPORT_VARIABLE = "TETHER_KUBE_TRANSPORT"

# How hyper describes a request its connection ended under (a GOAWAY, a close): the
# same case httpcore reports as "Server disconnected", and answered the same way.
_WENT_AWAY = ("broken pipe", "closed before message completed", "go away", "goaway")

_ERRORS: tuple[tuple[type[exceptions.PyreqwestError], type[httpx.TransportError]], ...] = (
    (exceptions.ConnectTimeoutError, httpx.ConnectTimeout),
    (exceptions.PoolTimeoutError, httpx.PoolTimeout),
    (exceptions.WriteTimeoutError, httpx.WriteTimeout),
    (exceptions.RequestTimeoutError, httpx.ReadTimeout),
    (exceptions.ConnectError, httpx.ConnectError),
    (exceptions.WriteError, httpx.WriteError),
    (exceptions.ReadError, httpx.ReadError),
)


class NativeTransport(httpx.AsyncBaseTransport):
    def __init__(self, client: Client) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        builder = self._client.request(request.method, str(request.url)).headers(
            request.headers.multi_items()
        )
        if request.content:
            builder = builder.body_bytes(request.content)
        timeouts = request.extensions.get("timeout") or {}
        if limit := sum(t for t in (timeouts.get("connect"), timeouts.get("read")) if t):
            builder = builder.timeout(timedelta(seconds=limit))
        try:
            response = await builder.build().send()
            body = bytes(await response.bytes())
        except exceptions.PyreqwestError as exc:
            raise _httpx_error(exc, request) from exc
        return httpx.Response(response.status, headers=list(response.headers.items()), content=body)

    async def aclose(self) -> None:
        await self._client.close()


def _httpx_error(exc: exceptions.PyreqwestError, request: httpx.Request) -> httpx.TransportError:
    details = getattr(exc, "details", None) or {}
    why = "; ".join([exc.message, *(c["message"] for c in details.get("causes") or [])])
    if any(sign in why for sign in _WENT_AWAY):
        return httpx.RemoteProtocolError(f"Server disconnected: {why}", request=request)
    for native, mapped in _ERRORS:
        if isinstance(exc, native):
            return mapped(why, request=request)
    return httpx.TransportError(why, request=request)


def transport(conn: ConnectionConfig) -> httpx.AsyncBaseTransport | None:
    """A native HTTP/2 transport for ``conn``, or None when it needs httpcore's."""
    if os.environ.get(TRANSPORT_VARIABLE) == "httpcore":
        return None
    if conn.server_name or conn.proxy_url or conn.exec_credentials is not None:
        return None
    builder = ClientBuilder().http2(True).tcp_nodelay(True)
    if conn.insecure:
        builder = builder.danger_accept_invalid_certs(True)
    if conn.ca_file:
        builder = builder.add_root_certificate_pem(Path(conn.ca_file).read_bytes())
    if conn.cert_file and conn.key_file:
        identity = Path(conn.cert_file).read_bytes() + b"\n" + Path(conn.key_file).read_bytes()
        builder = builder.identity_pem(identity)
    return NativeTransport(builder.build())
