"""Short requests to the API server over HTTP/2 in native code (hyper and rustls, through
pyreqwest).

Half of the controller's CPU at 1,000 apps went to its HTTP client. Measured with
``python -m bench.httpcost`` (merge patches, 20 at a time): httpx over httpcore's HTTP/2
(h2's framing and HPACK in Python) costs about 4 ms of CPU per request, httpx over a
pyreqwest transport about 1.7 ms, and pyreqwest alone about 0.5 ms; so requests skip
httpx, and this module keeps the little of it they used: the bearer token (re-read from
its file, and once more after a 401), errors in httpx's terms, and a request cut off by
a GOAWAY sent again.

The default; ``TETHER_KUBE_TRANSPORT=httpcore`` goes back to httpx over httpcore. Against
the chaos suite's HTTP/2 proxy, which closes a connection with GOAWAY after so many requests
as nginx does, hyper leaves the requests that follow waiting until it next wakes for the
connection: their timeout (30 s) without pings, about a second with the keep-alive ping set
here, where httpcore answers them at once on a new connection. Watches are streams on
the same connection, as client-go's are: reading them through httpx over HTTP/1.1 was
about a tenth of a sharded replica's CPU at 1,000 apps. A connection that needs what
this one does not carry (a TLS server name other than the URL's host, a proxy, an exec
plugin's credential) keeps httpx over httpcore, for watches over HTTP/1.1; so does an
API server whose certificate rustls refuses, from the first refusal on (OpenSSL takes
some that rustls does not, such as a CA certificate serving as the server's own).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from pyreqwest import exceptions
from pyreqwest.client import Client, ClientBuilder
from pyreqwest.response import ResponseBodyReader

from tether.adapters.kube.config import ConnectionConfig
from tether.adapters.kube.streams import split_lines
from tether.adapters.kube.token import TokenFile

log = logging.getLogger(__name__)

TRANSPORT_VARIABLE = "TETHER_KUBE_TRANSPORT"
# After a GOAWAY from an HTTP/2 proxy in front of the API server (hypercorn here, nginx in
# seanmonstar/reqwest#1323), hyper leaves the next requests waiting until its next
# keep-alive ping (below): about a second per GOAWAY, against a seventh of the CPU.
DEFAULT = "native"
# With a ping this often, requests after a GOAWAY wait about this long (measured against
# the chaos proxy: about 10 s with a 10 s interval, about 1 s with this one).
KEEPALIVE = timedelta(seconds=1)

# How hyper describes a request its connection ended under (a GOAWAY, a close): what
# httpcore calls "Server disconnected", answered the same way.
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


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole answer: what the client reads of an ``httpx.Response``."""

    status_code: int
    headers: dict[str, str]  # names in lower case, as HTTP/2 sends them
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


class Connection:
    """Requests to one API server, multiplexed on hyper's HTTP/2 connection."""

    def __init__(
        self, client: Client, server: str, tokens: TokenFile | None, timeout: float
    ) -> None:
        self._client = client
        self._server = server.rstrip("/")
        self.tokens = tokens
        self._timeout = timedelta(seconds=timeout)
        self.goaways = 0  # requests sent again after their connection went away
        # Why rustls refused the server's certificate, once it has: KubeClient then
        # sends over httpx, whose OpenSSL takes some certificates rustls does not.
        self.refused: str | None = None

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None,
        content: bytes | None,
        headers: dict[str, str],
        goaway_retries: int,
    ) -> Answer:
        """Send, with the current token and once more after a 401 when the token file
        holds a newer one; a request cut off by GOAWAY is sent again up to
        ``goaway_retries`` times, then raised as ``httpx.RemoteProtocolError``."""
        url = self._url(path, params)
        for _ in range(goaway_retries):
            try:
                return await self._authorized(method, url, content, headers)
            except httpx.RemoteProtocolError:  # only a cut-off request: see httpx_error
                self.goaways += 1
        return await self._authorized(method, url, content, headers)

    async def _authorized(
        self, method: str, url: str, content: bytes | None, headers: dict[str, str]
    ) -> Answer:
        if self.tokens is None:
            return await self._once(method, url, content, headers)
        token = self.tokens.token()
        answer = await self._once(method, url, content, headers | _bearer(token))
        if answer.status_code == 401:
            fresh = self.tokens.token(force=True)
            if fresh != token:
                answer = await self._once(method, url, content, headers | _bearer(fresh))
        return answer

    async def _once(
        self, method: str, url: str, content: bytes | None, headers: dict[str, str]
    ) -> Answer:
        builder = self._client.request(method, url).headers(headers).timeout(self._timeout)
        if content:
            builder = builder.body_bytes(content)
        try:
            response = await builder.build().send()
            body = bytes(await response.bytes())
        except exceptions.PyreqwestError as exc:
            raise self._failed(exc) from exc
        return Answer(response.status, dict(response.headers.items()), body)

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, *, params: dict[str, Any], headers: dict[str, str], timeout: float
    ) -> AsyncIterator[Streamed]:
        """A GET whose answer is read as it arrives (a watch), within ``timeout`` seconds;
        after a 401, once more when the token file holds a newer token."""
        url = self._url(path, params)
        token = self.tokens.token() if self.tokens is not None else None
        for retry in (False, True):
            sent = headers | _bearer(token) if token is not None else headers
            request = self._client.request("GET", url).headers(sent)
            # pyreqwest otherwise reads 64 KiB ahead before answering: a quiet watch's
            # events would wait until that much had come.
            request = request.timeout(timedelta(seconds=timeout)).streamed_read_buffer_limit(0)
            try:
                async with request.build_streamed() as response:
                    if response.status == 401 and self.tokens is not None and not retry:
                        fresh = self.tokens.token(force=True)
                        if fresh != token:
                            token = fresh
                            continue
                    yield Streamed(response.status, response.body_reader, self._failed)
                    return
            except exceptions.PyreqwestError as exc:
                raise self._failed(exc) from exc

    def _url(self, path: str, params: dict[str, Any] | None) -> str:
        return self._server + path + (f"?{urlencode(params)}" if params else "")

    def _failed(self, exc: exceptions.PyreqwestError) -> httpx.TransportError:
        """The error to raise for ``exc``; the first certificate refusal is logged."""
        error = httpx_error(exc)
        if isinstance(error, CertificateRefused) and self.refused is None:
            self.refused = str(error)
            log.warning(
                "%s: the native HTTP/2 client refused the server's certificate, so "
                "requests go over httpx (OpenSSL) from now on: %s",
                self._server,
                error,
            )
        return error

    async def close(self) -> None:
        await self._client.close()


@dataclass(frozen=True, slots=True)
class Streamed:
    """An answer being read: its status, then its body whole or line by line."""

    status_code: int
    reader: ResponseBodyReader
    failed: Callable[[exceptions.PyreqwestError], httpx.TransportError]

    async def read(self) -> bytes:
        try:
            return bytes(await self.reader.bytes())
        except exceptions.PyreqwestError as exc:
            raise self.failed(exc) from exc

    async def lines(self) -> AsyncIterator[bytes]:
        """Each non-empty line, as the chunks that carry it arrive."""
        try:
            async for line in split_lines(self._chunks()):
                yield line
        except exceptions.PyreqwestError as exc:
            raise self.failed(exc) from exc

    async def _chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self.reader.read_chunk()) is not None:
            yield chunk.to_bytes()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class CertificateRefused(httpx.ConnectError):
    """rustls refused the server's certificate (OpenSSL may take it)."""


def httpx_error(exc: exceptions.PyreqwestError) -> httpx.TransportError:
    """The httpx error for what pyreqwest raised, its message naming every cause."""
    details = getattr(exc, "details", None) or {}
    why = "; ".join([exc.message, *(c["message"] for c in details.get("causes") or [])])
    if any(sign in why for sign in _WENT_AWAY):
        return httpx.RemoteProtocolError(f"Server disconnected: {why}")
    if "invalid peer certificate" in why:
        return CertificateRefused(why)
    for native, mapped in _ERRORS:
        if isinstance(exc, native):
            return mapped(why)
    return httpx.TransportError(why)


def connect(
    conn: ConnectionConfig,
    headers: dict[str, str],
    tokens: TokenFile | None,
    timeout: float,
    choice: str | None = None,
) -> Connection | None:
    """A native connection for ``conn`` when chosen (``choice``, else the environment) and
    possible, or None for httpx over httpcore."""
    if (choice or os.environ.get(TRANSPORT_VARIABLE, DEFAULT)) != "native":
        return None
    if conn.server_name or conn.proxy_url or conn.exec_credentials is not None:
        return None
    builder = (
        ClientBuilder()
        .http2(True)
        .tcp_nodelay(True)
        .default_headers(headers)
        .connect_timeout(timedelta(seconds=10))
        # hyper notices a connection its server closed with GOAWAY when it next
        # wakes for a ping: without pings, the requests after it waited out their timeout.
        .http2_keep_alive_interval(KEEPALIVE)
        .http2_keep_alive_timeout(timedelta(seconds=10))
        .http2_keep_alive_while_idle(True)
    )
    if conn.insecure:
        builder = builder.danger_accept_invalid_certs(True)
    if conn.ca_file:
        builder = builder.add_root_certificate_pem(Path(conn.ca_file).read_bytes())
    if conn.cert_file and conn.key_file:
        identity = Path(conn.cert_file).read_bytes() + b"\n" + Path(conn.key_file).read_bytes()
        builder = builder.identity_pem(identity)
    return Connection(builder.build(), conn.server, tokens, timeout)
