"""A server certificate that rustls refuses and OpenSSL takes costs no request.

The native HTTP/2 client verifies with rustls, which is stricter than OpenSSL: it refuses a
server certificate that is its own CA (CaUsedAsEndEntity), which hand-made certificates
sometimes are and kubeconfigs that worked over httpx still trust. The first refusal sends
that request, and every later one, over httpx.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from chaos.proxy import FaultProxy

from tether.adapters.kube import KubeClient, config
from tether.testenv import cluster as localcluster
from tether.testenv import kubeconfig as kubeconfigs

pytestmark = pytest.mark.cluster


async def test_a_certificate_only_openssl_takes_is_answered_over_httpx_from_then_on(
    cluster: localcluster.ClusterState, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = FaultProxy(tmp_path, cluster.server, cluster.ca_file, cert_is_ca=True)
    path = tmp_path / "kubeconfig"
    kubeconfigs.write(path, server=proxy.url, ca_file=str(proxy.cert), token=cluster.token)
    try:
        async with KubeClient(config.load(str(path)), transport="native") as kube:
            with caplog.at_level(logging.WARNING):
                first = await kube.get("v1", "Namespace", "default")
                again = await kube.get("v1", "Namespace", "kube-system")
            assert first["metadata"]["name"] == "default"
            assert again["metadata"]["name"] == "kube-system"
            assert kube.native is not None and "CaUsedAsEndEntity" in (kube.native.refused or "")
            refusals = [
                r for r in caplog.records if "refused the server's certificate" in r.message
            ]
            assert len(refusals) == 1
    finally:
        proxy.close()
