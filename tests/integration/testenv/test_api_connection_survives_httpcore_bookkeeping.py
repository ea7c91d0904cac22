"""The client's HTTP/2 connection to the API server survives httpcore's own bookkeeping.

httpcore counts a cancelled HTTP/2 stream closed while the h2 state machine may still
count it open (encode/httpcore#1022): a cancellation at the wrong moment can leave the
connection releasing its stream semaphore twice ("semaphore released too many times"),
or never, so that every later request fails or waits for a stream forever. Tether
cancels requests all the time (a fenced shard, a bounded stop, a superseded reconcile).
The two broken states are made by hand here, as a cancellation leaves them, on the
httpcore transport a connection falls back to when the native one cannot serve it
(``tether.adapters.kube.native``); the native one is cancelled thousands of times too.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tether.adapters.kube import KubeClient
from tether.adapters.kube import config as kubeconfigs
from tether.testenv import cluster as localcluster


def configmap(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"payload": "x" * 20_000},
    }


@pytest.mark.parametrize("transport", ["native", "httpcore"])
async def test_thousands_of_cancelled_requests_leave_the_connection_usable(
    cluster: localcluster.ClusterState, transport: str
) -> None:
    rng = random.Random(7)
    conn = kubeconfigs.load(cluster.kubeconfig)
    async with KubeClient(conn, transport=transport) as kube:
        await kube.request("GET", "/api/v1/namespaces/default/configmaps")
        for round in range(40):
            calls = [
                asyncio.ensure_future(
                    # A request with a body: its stream ends with the body, after the headers.
                    kube.request(
                        "POST",
                        "/api/v1/namespaces/default/configmaps",
                        params={"dryRun": "All"},
                        body=configmap(f"c-{round}-{i}"),
                    )
                )
                for i in range(100)
            ]
            await asyncio.sleep(rng.uniform(0.0, 0.01))
            for call in calls:
                call.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
        answers = await asyncio.wait_for(
            asyncio.gather(
                *(kube.request("GET", "/api/v1/namespaces/default/configmaps") for _ in range(300))
            ),
            timeout=60,
        )
        assert all(a["kind"] == "ConfigMapList" for a in answers)


def stream_semaphore(client: Any) -> Any:
    """The stream semaphore of the client's one HTTP/2 connection (httpcore internals)."""
    (conn,) = client._transport._pool.connections
    return conn._connection._max_streams_semaphore


async def test_a_connection_whose_stream_count_breaks_is_replaced_and_the_request_answered(
    cluster: localcluster.ClusterState,
) -> None:
    conn = kubeconfigs.load(cluster.kubeconfig)
    async with KubeClient(conn, transport="httpcore") as kube:
        await kube.request("GET", "/api")
        first = kube.mux.client
        watching = asyncio.ensure_future(
            kube.mux.send("GET", "/api/v1/namespaces", params={"watch": "1", "timeoutSeconds": "2"})
        )
        await asyncio.sleep(0.5)
        # What a request cancelled at the wrong moment leaves behind: one release too many,
        # so the stream in flight fails in httpcore's bookkeeping when it closes.
        await stream_semaphore(first).release()
        answer = await watching
        assert answer.status_code == 200
        assert kube.mux.client is not first and kube.mux.renewals == 1
        assert (await kube.request("GET", "/api"))["kind"] == "APIVersions"


async def test_a_request_waiting_forever_for_a_stream_is_sent_again_on_a_new_connection(
    cluster: localcluster.ClusterState,
) -> None:
    conn = kubeconfigs.load(cluster.kubeconfig)
    async with KubeClient(conn, timeout=2.0, transport="httpcore") as kube:
        await kube.request("GET", "/api")
        first = kube.mux.client
        # What releases lost to cancellations leave behind: no stream is ever free again,
        # and no httpx timeout covers waiting for one.
        semaphore = stream_semaphore(first)
        while semaphore._anyio_semaphore.value:
            await semaphore.acquire()
        answer = await kube.request("GET", "/api")
        assert answer["kind"] == "APIVersions"
        assert kube.mux.client is not first and kube.mux.renewals == 1
