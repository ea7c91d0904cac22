"""``python -m bench.httpcost [N]``: CPU per API request, in the client and in the control plane.

N merge patches of 200 ConfigMaps in turn (20 at a time) on a fresh local control plane, sent by
Tether's KubeClient over its native HTTP/2 transport and over httpcore's, by pyreqwest alone,
by plain httpx over HTTP/2 and HTTP/1.1, and by aiohttp over HTTP/1.1 when installed (not a
dependency: `.venv/bin/pip install aiohttp` first). Each variant's CPU is this process's; the
control plane's is kube-apiserver's and etcd's, per request. The variants take turns at
going first, as the control plane's share grows with the objects' history.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psutil
from pyreqwest.client import ClientBuilder

from bench.harness import _cpu
from tether.adapters.kube import KubeClient
from tether.adapters.kube import config as kubeconfig
from tether.testenv import cluster

CONCURRENCY = 20
# Requests in flight together patch different ConfigMaps: on one object they would
# conflict inside the API server, whose retries a faster client would pay for.
CONFIGMAPS = 10 * CONCURRENCY


def _name(i: int) -> str:
    return f"bench-{i % CONFIGMAPS}"


def _path(i: int) -> str:
    return f"/api/v1/namespaces/default/configmaps/{_name(i)}"


Send = Callable[[int], Awaitable[None]]


def _patch(i: int) -> dict[str, object]:
    return {"metadata": {"annotations": {"n": str(i)}}}


async def measure(label: str, send: Send, n: int, control_plane: list[psutil.Process]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with gate:
            await send(i)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    server0 = sum(_cpu(p) for p in control_plane)
    await asyncio.gather(*(one(i) for i in range(n)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    server = sum(_cpu(p) for p in control_plane) - server0
    print(
        f"{label:28s} {n} requests: wall {wall:6.2f}s  cpu {cpu:6.2f}s  "
        f"{1e6 * cpu / n:7.0f} us cpu/request; control plane {1e6 * server / n:7.0f} us/request",
        flush=True,
    )


async def main(state: cluster.ClusterState, n: int) -> None:
    control_plane = [
        psutil.Process(c.pid) for c in state.components if c.name in ("kube-apiserver", "etcd")
    ]
    kube = KubeClient(kubeconfig.load(state.kubeconfig), transport="native")
    kube_httpcore = KubeClient(kubeconfig.load(state.kubeconfig), transport="httpcore")
    for i in range(CONFIGMAPS):
        await kube.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": _name(i), "namespace": "default"},
                "data": {"a": "b"},
            }
        )
    headers = {"Authorization": f"Bearer {state.token}", "Accept": "application/json"}
    merge = {"Content-Type": "application/merge-patch+json"}
    ctx = ssl.create_default_context(cafile=state.ca_file)

    def over_kube(client: KubeClient) -> Send:
        async def send(i: int) -> None:
            await client.merge_patch("v1", "ConfigMap", _name(i), _patch(i), "default")

        return send

    pem = Path(state.ca_file).read_bytes()
    native = (
        ClientBuilder()
        .base_url(state.server)
        .add_root_certificate_pem(pem)
        .default_headers(headers)
        .http2(True)
        .build()
    )

    async def over_pyreqwest(i: int) -> None:
        body = json.dumps(_patch(i)).encode()
        r = await native.patch(_path(i)).body_bytes(body).headers(merge).build().send()
        r.error_for_status()
        json.loads(bytes(await r.bytes()))

    def over_httpx(client: httpx.AsyncClient) -> Send:
        async def send(i: int) -> None:
            r = await client.patch(_path(i), content=json.dumps(_patch(i)).encode(), headers=merge)
            r.raise_for_status()
            r.json()

        return send

    h2 = httpx.AsyncClient(base_url=state.server, verify=ctx, headers=headers, http2=True)
    h1 = httpx.AsyncClient(
        base_url=state.server,
        verify=ctx,
        headers=headers,
        limits=httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY),
    )
    variants: list[tuple[str, Send]] = [
        ("KubeClient (native h2)", over_kube(kube)),
        ("KubeClient (httpcore h2)", over_kube(kube_httpcore)),
        ("pyreqwest h2", over_pyreqwest),
        ("httpx http2", over_httpx(h2)),
        ("httpx http1.1", over_httpx(h1)),
    ]
    closers: list[Callable[[], Awaitable[None]]] = [
        h1.aclose,
        h2.aclose,
        kube.close,
        kube_httpcore.close,
        native.close,
    ]
    try:
        import aiohttp
    except ImportError:
        print("aiohttp not installed: left out", flush=True)
    else:
        session = aiohttp.ClientSession(
            base_url=state.server,
            headers=headers,
            connector=aiohttp.TCPConnector(limit=CONCURRENCY, ssl=ctx),
        )

        async def aio(i: int) -> None:
            body = json.dumps(_patch(i)).encode()
            async with session.patch(_path(i), data=body, headers=merge) as r:
                r.raise_for_status()
                json.loads(await r.read())

        variants.append(("aiohttp http1.1", aio))
        closers.append(session.close)
    for _label, send in variants:  # open every client's connections before measuring
        for i in range(CONCURRENCY):
            await send(i)
    for r in range(len(variants)):  # each variant takes each place in the order once
        for label, send in variants[r:] + variants[:r]:
            await measure(label, send, n, control_plane)
    for close in closers:
        await close()


if __name__ == "__main__":
    directory = Path(tempfile.mkdtemp(prefix="httpcost-"))
    state = cluster.up(directory, nodes=0)
    try:
        asyncio.run(main(state, int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
    finally:
        cluster.down(directory)
