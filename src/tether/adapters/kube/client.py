"""An asynchronous Kubernetes client that speaks plain JSON.

The engine works on objects as the API server returns them, for any kind,
so this client keeps them as dicts: discovery maps apiVersion/kind to a
resource path, server-side apply is a PATCH with the apply content type, and
watches are streamed lines. Keeping it this thin avoids a model layer on the
hot path (decoding thousands of objects per relist).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import h2.connection
import httpx

from tether.adapters.kube import config as kubeconfig
from tether.adapters.kube import (
    connection,
    errors,
    exec_credentials,
    native,
    request_counts,
    streams,
    token,
)
from tether.adapters.kube.discovery import ApiResource, Discovery
from tether.engine.objects import Obj, group_of, version_of

# As client-go: an answer asking to come back later (429, or 5xx with Retry-After)
# is retried after the wait it names, so a throttled API server slows a sync
# down instead of failing it.
THROTTLE_RETRIES = 10
MAX_RETRY_AFTER = 10.0
# A gateway's error (502, 503, 504 without Retry-After) may come after the API
# server acted: a load balancer's read timeout ran out, or it lost the upstream
# connection. A server-side apply sends the whole intent, and a delete of one
# object by its uid ends in NotFound, so sending either again cannot do more
# than the first did: they are sent again over about 15 s (1, 2, 4, 8 s apart),
# so a lost answer does not fail a sync whose writes landed (the next pass would
# find nothing to sync, and the deploy would never reach the history).
GATEWAY_ERRORS = frozenset({502, 503, 504})
IDEMPOTENT_RETRY_WAITS = (1.0, 2.0, 4.0, 8.0)

# h2 remembers how each closed stream of a connection ended, for up to 65,536
# streams (about 7.5 MiB per connection), to tell a late frame on a stream it
# reset from a protocol error. A controller's connection to its API server
# lives for days and sends one stream per request, so that table grows with
# every request; a late frame arrives within a few streams of its own, and
# 4,096 remembered (under 0.5 MiB) is still many times the 250 or so streams
# an API server lets one connection run at once.
h2.connection.H2Connection.MAX_CLOSED_STREAMS = 4096


def retry_after(resp: httpx.Response | native.Answer) -> float | None:
    """Seconds to wait before sending again, or None when the answer is final."""
    if resp.status_code != 429 and resp.status_code < 500:
        return None
    value = resp.headers.get("retry-after")
    if value is None:
        return 1.0 if resp.status_code == 429 else None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return 1.0


APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
MERGE_CONTENT_TYPE = "application/merge-patch+json"
JSON_PATCH_CONTENT_TYPE = "application/json-patch+json"


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: Obj


@dataclass(frozen=True)
class Page:
    """One page of a list: its items, and the resourceVersion the server listed at."""

    items: list[Obj]
    resource_version: str


class KubeClient:
    """Connections to one API server (HTTP/2 for requests and watches, native where it can
    be: ``native.py``; else watches over HTTP/1.1), plus a discovery cache."""

    def __init__(
        self,
        conn: kubeconfig.ConnectionConfig,
        *,
        timeout: float = 30.0,
        transport: str | None = None,
    ) -> None:
        """``transport``: "native" or "httpcore" for short requests; by default what
        ``TETHER_KUBE_TRANSPORT`` says, else native (see ``native.py``)."""
        headers = {"Accept": "application/json", "User-Agent": "tether"}
        auth: httpx.Auth | None = None
        if conn.token_file:
            auth = token.TokenFileAuth(token.TokenFile(conn.token_file, initial=conn.token))
        elif conn.token:
            headers["Authorization"] = f"Bearer {conn.token}"
        elif conn.exec_credentials is not None:
            auth = exec_credentials.ExecAuth(conn.exec_credentials)
        self.conn = conn
        ssl = conn.ssl_context()
        hooks = {"request": [_server_name_hook(conn.server_name)]} if conn.server_name else {}
        self.mux = connection.MultiplexedConnection(
            lambda: httpx.AsyncClient(
                base_url=conn.server,
                verify=ssl,
                headers=headers,
                auth=auth,
                timeout=httpx.Timeout(timeout, connect=10.0),
                limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
                http2=True,  # requests multiplex on a few connections: no pool scans per request
                proxy=conn.proxy_url,
                event_hooks=hooks,
            ),
            timeout,
        )
        # Watches hold their connection for minutes: a pool of their own keeps
        # them from crowding out (and slowing the bookkeeping of) short requests.
        self.watch_http = httpx.AsyncClient(
            base_url=conn.server,
            verify=ssl,
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
            proxy=conn.proxy_url,
            event_hooks=hooks,
        )
        self._auth = auth
        tokens = auth.source if isinstance(auth, token.TokenFileAuth) else None
        self.native = native.connect(conn, headers, tokens, timeout, transport)
        self.discovery = Discovery(lambda path: self.request("GET", path))
        self._extra_headers: dict[str, str] = {}
        self.impersonated: str | None = None
        self.requests = request_counts.RequestCounts()

    @property
    def goaways(self) -> int:
        """Requests sent again because their HTTP/2 connection went away under them."""
        return self.mux.goaways + (self.native.goaways if self.native is not None else 0)

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, context: str | None = None) -> KubeClient:
        return cls(kubeconfig.load(path, context))

    def impersonating(self, username: str, groups: tuple[str, ...] = ()) -> KubeClient:
        """A client that acts as ``username`` (a ServiceAccount as
        ``system:serviceaccount:NS:NAME``) on the same connections, so the
        cluster's RBAC decides what it may do. Discovery stays shared: what
        kinds exist does not depend on who asks."""
        clone = copy.copy(self)
        headers = {"Impersonate-User": username}
        if groups:
            headers["Impersonate-Group"] = ",".join(groups)
        clone._extra_headers = headers
        clone.impersonated = username
        return clone

    async def close(self) -> None:
        if self.impersonated is not None:
            return  # the connections belong to the client this one was made from
        await self.mux.aclose()
        await self.watch_http.aclose()
        if self.native is not None:
            await self.native.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- raw requests -----------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        idempotent: bool = False,
    ) -> Any:
        """``idempotent``: sending it twice does no more than once, so a gateway's
        error is no reason to fail it (``GATEWAY_ERRORS``)."""
        content = None if body is None else json.dumps(body).encode()
        headers = dict(self._extra_headers)
        if content is not None:
            headers["Content-Type"] = content_type
        goaway_retries = 0 if self._auth is not None else connection.GOAWAY_RETRIES
        resp: httpx.Response | native.Answer
        fast = self.native if self.native is not None and self.native.refused is None else None
        send = fast.send if fast is not None else self.mux.send
        how: dict[str, Any] = {
            "params": params,
            "content": content,
            "headers": headers,
            "goaway_retries": goaway_retries,
        }
        gateway_waits = iter(IDEMPOTENT_RETRY_WAITS if idempotent else ())
        for attempt in range(THROTTLE_RETRIES + 1):
            self.requests.add(method, path, params, content_type if content else "")
            try:
                try:
                    resp = await send(method, path, **how)
                except native.CertificateRefused:
                    send = self.mux.send  # the reason is logged once, by native
                    resp = await send(method, path, **how)
            except httpx.RemoteProtocolError:
                if self._auth is None:
                    raise
                # The API server answers a rejected credential over HTTP/2 with
                # GOAWAY ahead of its 401, which httpcore reports as a closed
                # connection: over HTTP/1.1 the 401 arrives, so the credential
                # is refreshed and the request sent again. Sent there at once: a
                # new HTTP/2 connection would only be told the same (a GOAWAY that
                # merely closed a connection is answered over HTTP/1.1 just as well).
                resp = await self.watch_http.request(
                    method, path, params=params, content=content, headers=headers
                )
            wait = retry_after(resp)
            if wait is None and resp.status_code in GATEWAY_ERRORS:
                wait = next(gateway_waits, None)
            if wait is None or attempt == THROTTLE_RETRIES:
                break
            await asyncio.sleep(wait)
        if resp.status_code >= 400:
            try:
                payload: Any = resp.json()
            except ValueError:
                payload = resp.text
            raise errors.from_status(resp.status_code, payload)
        return resp.json() if resp.content else None

    # -- discovery --------------------------------------------------------
    async def discover(self, *, refresh: bool = False) -> dict[tuple[str, str], ApiResource]:
        return await self.discovery.resources(refresh=refresh)

    async def resource_for(self, api_version: str, kind: str) -> ApiResource:
        return await self.discovery.resource_for(api_version, kind)

    async def preferred_resources(self) -> list[ApiResource]:
        """One resource per group/kind (the first served version), for listing live state."""
        return await self.discovery.preferred()

    # -- objects ----------------------------------------------------------
    async def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> Obj:
        api = await self.resource_for(api_version, kind)
        obj: Obj = await self.request("GET", api.path(namespace, name))
        return obj

    async def get_or_none(
        self, api_version: str, kind: str, name: str, namespace: str = ""
    ) -> Obj | None:
        try:
            return await self.get(api_version, kind, name, namespace)
        except errors.NotFound:
            return None

    async def list(
        self,
        api: ApiResource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], str]:
        """All items (paged), with apiVersion/kind filled in, and the list's resourceVersion."""
        items: list[Obj] = []
        resource_version = ""
        async for page in self.pages(
            api, namespace, label_selector=label_selector, field_selector=field_selector
        ):
            items.extend(page.items)
            resource_version = page.resource_version
        return items, resource_version

    async def pages(
        self,
        api: ApiResource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
    ) -> AsyncIterator[Page]:
        """The list a page at a time, each with the resourceVersion the server gave it (the
        last page's is the list's): a caller that keeps items in another form never holds
        the whole list decoded."""
        params: dict[str, Any] = {"limit": limit}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        while True:
            page = await self.request("GET", api.path(namespace), params=params)
            items: list[Obj] = page.get("items", [])
            for item in items:
                item.setdefault("apiVersion", api.api_version)
                item.setdefault("kind", api.kind)
            yield Page(items, str(page.get("metadata", {}).get("resourceVersion", "")))
            cont = page.get("metadata", {}).get("continue")
            if not cont:
                return
            params["continue"] = cont

    async def watch(
        self,
        api: ApiResource,
        resource_version: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[WatchEvent]:
        """Stream changes after resource_version; raises errors.Gone when it is too old."""
        params: dict[str, Any] = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout_seconds,
        }
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        self.requests.add("GET", api.path(namespace), params)
        async with self._stream(api.path(namespace), params, timeout_seconds + 30) as resp:
            if resp.status_code >= 400:
                body = await resp.read()
                try:
                    payload: Any = json.loads(body)
                except ValueError:
                    payload = body.decode(errors="replace")
                raise errors.from_status(resp.status_code, payload)
            async for line in resp.lines():
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object", {})
                    raise errors.from_status(int(status.get("code", 500)), status)
                obj = event.get("object", {})
                obj.setdefault("apiVersion", api.api_version)
                obj.setdefault("kind", api.kind)
                yield WatchEvent(type=str(event.get("type")), object=obj)

    @contextlib.asynccontextmanager
    async def _stream(
        self, path: str, params: dict[str, Any], timeout: float
    ) -> AsyncIterator[streams.Streamed]:
        """A GET read as it arrives: over the native connection's HTTP/2 when requests go
        there, else on a connection of its own (HTTP/1.1)."""
        headers = dict(self._extra_headers)
        if self.native is not None and self.native.refused is None:
            async with self.native.stream(
                path, params=params, headers=headers, timeout=timeout
            ) as streamed:
                yield streamed
            return
        async with self.watch_http.stream(
            "GET",
            path,
            params=params,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
        ) as resp:
            yield streams.HttpxStreamed(resp)

    async def apply(
        self,
        obj: Obj,
        *,
        field_manager: str,
        force: bool = True,
        dry_run: bool = False,
        subresource: str | None = None,
        field_validation: str | None = None,
    ) -> Obj:
        """Server-side apply; returns the object as the API server would store it.
        ``field_validation``: Strict, Warn or Ignore (the server's default if None)."""
        api = await self.resource_for(str(obj["apiVersion"]), str(obj["kind"]))
        meta = obj.get("metadata", {})
        path = api.path(meta.get("namespace") or None, meta["name"])
        if subresource:
            path += f"/{subresource}"
        params: dict[str, Any] = {"fieldManager": field_manager, "force": str(force).lower()}
        params |= _write_params(dry_run, field_validation)
        result: Obj = await self.request(
            "PATCH", path, params=params, body=obj, content_type=APPLY_CONTENT_TYPE, idempotent=True
        )
        return result

    async def create(
        self,
        obj: Obj,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
        field_validation: str | None = None,
    ) -> Obj:
        api = await self.resource_for(str(obj["apiVersion"]), str(obj["kind"]))
        params = _write_params(dry_run, field_validation, field_manager) or None
        ns = obj.get("metadata", {}).get("namespace") or None
        result: Obj = await self.request("POST", api.path(ns), params=params, body=obj)
        return result

    async def replace(
        self,
        obj: Obj,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
        field_validation: str | None = None,
    ) -> Obj:
        api = await self.resource_for(str(obj["apiVersion"]), str(obj["kind"]))
        meta = obj["metadata"]
        result: Obj = await self.request(
            "PUT",
            api.path(meta.get("namespace") or None, meta["name"]),
            params=_write_params(dry_run, field_validation, field_manager) or None,
            body=obj,
        )
        return result

    async def merge_patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: dict[str, Any],
        namespace: str = "",
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        field_validation: str | None = None,
    ) -> Obj:
        api = await self.resource_for(api_version, kind)
        path = api.path(namespace or None, name) + (f"/{subresource}" if subresource else "")
        result: Obj = await self.request(
            "PATCH",
            path,
            params=_write_params(dry_run, field_validation, field_manager) or None,
            body=patch,
            content_type=MERGE_CONTENT_TYPE,
        )
        return result

    async def json_patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        operations: Sequence[dict[str, Any]],
        namespace: str = "",
        *,
        subresource: str | None = None,
    ) -> Obj:
        """An RFC 6902 JSON patch: unlike a merge patch, ``add`` of an object replaces
        it whole, so no key of the object on the server outlives the write."""
        api = await self.resource_for(api_version, kind)
        path = api.path(namespace or None, name) + (f"/{subresource}" if subresource else "")
        result: Obj = await self.request(
            "PATCH", path, body=operations, content_type=JSON_PATCH_CONTENT_TYPE
        )
        return result

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str = "",
        *,
        propagation: str = "Background",
        dry_run: bool = False,
        uid: str | None = None,
    ) -> None:
        """Delete; with ``uid`` only that very object (409 Conflict if it was
        replaced by another of the same name since it was read)."""
        api = await self.resource_for(api_version, kind)
        body: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation,
        }
        if uid:
            body["preconditions"] = {"uid": uid}
        if dry_run:
            body["dryRun"] = ["All"]
        try:
            await self.request(
                "DELETE", api.path(namespace or None, name), body=body, idempotent=bool(uid)
            )
        except errors.NotFound:
            return


def _server_name_hook(name: str) -> Callable[[httpx.Request], Awaitable[None]]:
    """Check the server's certificate against ``name`` (and send it as SNI)
    instead of the URL's host, as kubeconfig's ``tls-server-name``."""

    async def hook(request: httpx.Request) -> None:
        request.extensions["sni_hostname"] = name

    return hook


def _write_params(
    dry_run: bool, field_validation: str | None, field_manager: str | None = None
) -> dict[str, str]:
    params: dict[str, str] = {}
    if dry_run:
        params["dryRun"] = "All"
    if field_validation:
        params["fieldValidation"] = field_validation
    if field_manager:
        params["fieldManager"] = field_manager
    return params


def obj_api_version(obj: Obj) -> tuple[str, str]:
    api_version = str(obj.get("apiVersion", ""))
    return group_of(api_version), version_of(api_version)
