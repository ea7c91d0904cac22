"""An HTTPS fault proxy in front of kube-apiserver: pass-through, or 429/500/timeouts a while.

The controller under test talks to the API server only through this proxy
(its kubeconfig names the proxy, with a CA of the proxy's own and the cluster's
token), so an episode of throttling, server errors or hung requests reaches
every request it makes, as an overloaded API server or a load balancer in
front of it would. ``lost`` forwards a write and then answers 504, as a load
balancer whose read timeout ran out after the API server acted does: the
write happened, and its writer was told it did not. Responses stream, so
watches pass through unchanged.
Outside an episode the proxy only forwards. It speaks HTTP/2 (and HTTP/1.1),
as kube-apiserver does, so the controller multiplexes its requests over one
connection through it as it does in production, and an episode's hung
requests share that connection with every other one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import random
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from bench.harness import free_port, log, wait_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypercorn.asyncio import serve
from hypercorn.config import Config as ServerConfig
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}
MODES = ("429", "500", "timeout", "lost")


def self_signed(directory: Path, *, ca: bool = False) -> tuple[Path, Path]:
    """A self-signed server certificate for 127.0.0.1, and its key. Not a CA unless asked:
    rustls (under the native HTTP/2 transport) refuses a CA certificate as a server's own,
    which OpenSSL takes; kube-apiserver's certificates are never CAs."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chaos-fault-proxy")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "proxy.crt", directory / "proxy.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class FaultProxy:
    """Forwards to ``upstream``; ``episode(mode, seconds, ratio)`` makes it misbehave."""

    def __init__(
        self,
        directory: Path,
        upstream: str,
        ca_file: str,
        *,
        max_requests: int = 1000,
        cert_is_ca: bool = False,
    ) -> None:
        """``max_requests``: a connection is closed (GOAWAY) after that many, as
        nginx's ``keepalive_requests`` (default 1,000) does in front of an API server.
        ``cert_is_ca``: serve a certificate that is its own CA, as some hand-made ones are."""
        self.upstream = upstream
        self.cert, self.key = self_signed(directory, ca=cert_is_ca)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.mode = ""
        self.only = ""
        self.method = ""
        self.body = ""
        self.exclude = ""
        self.times: int | None = None
        self.ratio = 1.0
        self.until = 0.0
        self.counts: dict[str, int] = {"forwarded": 0, **{m: 0 for m in MODES}, "upstream_down": 0}
        self._rng = random.Random(7)
        self._ca_file = ca_file
        self._client: httpx.AsyncClient | None = None
        config = ServerConfig()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.certfile, config.keyfile = str(self.cert), str(self.key)
        config.alpn_protocols = ["h2", "http/1.1"]
        config.keep_alive_timeout = 30
        config.keep_alive_max_requests = max_requests
        config.h2_max_concurrent_streams = 250  # kube-apiserver's default
        config.loglevel = "WARNING"
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet_when_clients_vanish)
        self._stop = asyncio.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(
                serve(self._app, config, shutdown_trigger=self._stop.wait, mode="asgi")
            )

        self._thread = threading.Thread(target=run, daemon=True, name="fault-proxy")
        self._thread.start()
        wait_port(self.port)

    # -- control -----------------------------------------------------------------
    def episode(
        self,
        mode: str,
        seconds: float,
        ratio: float = 0.7,
        only: str = "",
        method: str = "",
        *,
        body: str = "",
        exclude: str = "",
        times: int | None = None,
    ) -> None:
        """From now on for ``seconds``, answer ``ratio`` of requests with the fault
        (``only``: of the requests whose path contains it, or ends with it when it ends
        with ``$``; ``method``: of that method; ``body``: whose body contains it;
        ``exclude``: but not those whose query contains it), at most ``times`` times."""
        assert mode in MODES, mode
        self.mode, self.ratio, self.until = mode, ratio, time.monotonic() + seconds
        self.only, self.method, self.body, self.times = only, method, body, times
        self.exclude = exclude
        log(f"fault proxy: {mode} on {ratio:.0%} of requests for {seconds:.0f}s")

    def active(self) -> bool:
        return bool(self.mode) and time.monotonic() < self.until

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    # -- the ASGI app ------------------------------------------------------------
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.upstream,
                verify=ssl.create_default_context(cafile=self._ca_file),
                timeout=httpx.Timeout(60.0, read=None),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            )
        return self._client

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self._fault(request) or await self._forward(request)
            await response(scope, receive, send)
        except ClientDisconnect:
            return  # the client gave up (a kill, a timeout): nobody to answer

    async def _fault(self, request: Request) -> Response | None:
        if not self.active() or self._rng.random() >= self.ratio:
            return None
        path = request.url.path
        if self.only.endswith("$") and not path.endswith(self.only[:-1]):
            return None
        if self.only and not self.only.endswith("$") and self.only not in path:
            return None
        if self.method and request.method != self.method:
            return None
        if self.exclude and self.exclude in request.url.query:
            return None
        mode = self.mode
        if mode == "lost" and request.method == "GET":
            return None  # a lost read is only a failed read: the other modes cover it
        # Read the request to its end first: hypercorn drops the whole connection (a
        # KeyError in its HTTP/2 protocol) when a stream it has answered and closed still
        # receives DATA, such as the empty END_STREAM frame after a streamed GET's headers.
        body = await request.body()
        if (self.body and self.body.encode() not in body) or self.times == 0:
            return None
        if self.times is not None:
            self.times -= 1
        self.counts[mode] += 1
        if mode == "429":
            return _status(429, "TooManyRequests", "chaos: too many requests", {"Retry-After": "1"})
        if mode == "500":
            return _status(500, "InternalError", "chaos: internal error")
        if mode == "lost":
            done = await self._send(request)
            if isinstance(done, httpx.Response):
                await done.aclose()
            return _status(504, "Timeout", "chaos: the answer was lost after the write")
        # A hung request: held until the episode ends (at most 15 s), then a gateway timeout.
        await asyncio.sleep(max(0.0, min(self.until - time.monotonic(), 15.0)))
        return _status(504, "Timeout", "chaos: gateway timeout")

    async def _forward(self, request: Request) -> Response:
        resp = await self._send(request)
        if isinstance(resp, Response):
            return resp
        out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_HEADERS}

        async def body_iter() -> Any:
            try:
                async for chunk in resp.aiter_raw():
                    yield chunk
            except httpx.HTTPError:
                return
            finally:
                await resp.aclose()

        return StreamingResponse(body_iter(), status_code=resp.status_code, headers=out_headers)

    async def _send(self, request: Request) -> httpx.Response | Response:
        """The API server's streamed answer, or a 502 when it cannot be reached."""
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        body = await request.body()
        upstream = self._http().build_request(
            request.method,
            request.url.path,
            params=request.url.query,
            headers=headers,
            content=body,
        )
        try:
            resp = await self._http().send(upstream, stream=True)
        except httpx.HTTPError:
            self.counts["upstream_down"] += 1
            return _status(502, "ServiceUnavailable", "chaos proxy: API server unreachable")
        self.counts["forwarded"] += 1
        return resp


def _quiet_when_clients_vanish(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A killed controller drops its TLS connections mid-stream, many times a run: that is
    the test, not a proxy failure worth a traceback."""
    if isinstance(context.get("exception"), ssl.SSLError | ConnectionError):
        return
    loop.default_exception_handler(context)


class _ClosedByClient(logging.Filter):
    QUIET = frozenset({"SSL connection is closed", "socket.send() raised exception."})

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.QUIET


logging.getLogger("asyncio").addFilter(_ClosedByClient())


def _status(
    code: int, reason: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return Response(
        json.dumps(body), status_code=code, media_type="application/json", headers=headers
    )
