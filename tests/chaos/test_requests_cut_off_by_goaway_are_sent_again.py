"""A connection closed with GOAWAY under requests in flight costs no request.

Found by the chaos suite once its fault proxy spoke HTTP/2: the proxy (hypercorn)
closes a connection after 1,000 requests, as nginx does by default in front of an
API server, and httpcore failed the requests still in flight on it with
``RemoteProtocolError: ConnectionTerminated``: a RegistryCredential refresh logged a
traceback and failed. Those requests are now sent again, on a new connection.
The proxy here closes after 50 requests; 40 sent at once after discovery cross
that limit, and hypercorn drops every stream still in flight when it closes. The native
HTTP/2 client (hyper) notices the closed connection only at its next keep-alive ping: the
requests after the GOAWAY wait about a second there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from chaos.proxy import FaultProxy

from tether.adapters.kube import KubeClient, config
from tether.testenv import cluster as localcluster
from tether.testenv import kubeconfig as kubeconfigs

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize("transport", ["httpcore", "native"])
async def test_requests_in_flight_when_the_connection_goes_away_still_answer(
    cluster: localcluster.ClusterState, tmp_path: Path, transport: str
) -> None:
    proxy = FaultProxy(tmp_path, cluster.server, cluster.ca_file, max_requests=50)
    path = tmp_path / "kubeconfig"
    kubeconfigs.write(path, server=proxy.url, ca_file=str(proxy.cert), token=cluster.token)
    try:
        async with KubeClient(config.load(str(path)), transport=transport) as kube:
            await kube.get("v1", "Namespace", "default")
            answers = await asyncio.gather(
                *(kube.get("v1", "Namespace", "default") for _ in range(40))
            )
            assert [a["metadata"]["name"] for a in answers] == ["default"] * 40
            assert kube.goaways > 0  # the case happened, and was answered
    finally:
        proxy.close()
