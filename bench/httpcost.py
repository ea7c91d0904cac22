"""``python -m bench.httpcost [N]``: CPU per API request, in the client and in the control plane.

N merge patches of one ConfigMap (20 at a time) on a fresh local control plane, sent by
Tether's KubeClient (httpx over HTTP/2), plain httpx over HTTP/2 and HTTP/1.1, and aiohttp over
HTTP/1.1 when installed (not a dependency: `.venv/bin/pip install aiohttp` first). Each variant's CPU is
this process's, the control plane's is kube-apiserver's and etcd's, per request."""
import asyncio, json, ssl, sys, tempfile, time
from pathlib import Path
import httpx
from tether.testenv import cluster
from tether.adapters.kube import KubeClient

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
C = 20
PATH = "/api/v1/namespaces/default/configmaps/bench"


async def run(label, send):
    sem = asyncio.Semaphore(C)
    async def one(i):
        async with sem:
            await send(i)
    t0, c0 = time.perf_counter(), time.process_time()
    a0 = sum(p.cpu_times().user + p.cpu_times().system for p in APISERVER)
    await asyncio.gather(*(one(i) for i in range(N)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    api = sum(p.cpu_times().user + p.cpu_times().system for p in APISERVER) - a0
    print(f"{label:28s} {N} requests: wall {wall:6.2f}s  cpu {cpu:6.2f}s  {1e6*cpu/N:7.0f} us cpu/request; control plane {1e6*api/N:7.0f} us/request", flush=True)


APISERVER = []

async def main(state):
    import psutil
    for c in state.components:
        if c.name in ("kube-apiserver", "etcd"):
            APISERVER.append(psutil.Process(c.pid))
    kube = KubeClient.from_kubeconfig(state.kubeconfig)
    await kube.request("POST", "/api/v1/namespaces/default/configmaps",
                       body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bench"}, "data": {"a": "b"}})
    headers = {"Authorization": f"Bearer {state.token}", "Accept": "application/json"}
    ctx = ssl.create_default_context(cafile=state.ca_file)
    def body(i):
        return json.dumps({"metadata": {"annotations": {"n": str(i)}}}).encode()
    ct = {"Content-Type": "application/merge-patch+json"}

    async def tether(i):
        await kube.merge_patch("v1", "ConfigMap", "bench", {"metadata": {"annotations": {"n": str(i)}}}, "default")

    h2 = httpx.AsyncClient(base_url=state.server, verify=ctx, headers=headers, http2=True)
    async def raw_h2(i):
        r = await h2.patch(PATH, content=body(i), headers=ct); r.raise_for_status(); r.json()

    h1 = httpx.AsyncClient(base_url=state.server, verify=ctx, headers=headers,
                           limits=httpx.Limits(max_connections=C, max_keepalive_connections=C))
    async def raw_h1(i):
        r = await h1.patch(PATH, content=body(i), headers=ct); r.raise_for_status(); r.json()

    variants = [("tether KubeClient (h2)", tether), ("httpx http2", raw_h2), ("httpx http1.1", raw_h1)]
    closers = [h1.aclose, h2.aclose, kube.close]
    try:
        import aiohttp
    except ImportError:
        print("aiohttp not installed: left out", flush=True)
    else:
        sess = aiohttp.ClientSession(base_url=state.server, headers=headers,
                                     connector=aiohttp.TCPConnector(limit=C, ssl=ctx))
        async def aio(i):
            async with sess.patch(PATH, data=body(i), headers=ct) as r:
                r.raise_for_status(); json.loads(await r.read())
        variants.append(("aiohttp http1.1", aio))
        closers.append(sess.close)
    for label, f in variants:  # warm up connections
        for i in range(C):
            await f(i)
    for _ in range(2):
        for label, f in variants:
            await run(label, f)
    for close in closers:
        await close()


if __name__ == "__main__":
    d = Path(tempfile.mkdtemp(prefix="httpbench-"))
    state = cluster.up(d, nodes=0)
    try:
        asyncio.run(main(state))
    finally:
        cluster.down(d)
