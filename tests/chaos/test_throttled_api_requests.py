"""A throttled API server slows Tether's requests down instead of failing them.

Found by the chaos suite: one 429 answer failed a whole sync, and without a
retry policy the app then waited for the next commit. Tether's Kubernetes
client now does what client-go does: a 429 (or a 5xx with Retry-After) is sent
again after the wait it names, up to ten times. The API server here is the
real one, behind the chaos suite's fault proxy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos.proxy import FaultProxy

from tether.adapters.kube import ApiError, KubeClient
from tether.testenv import cluster as localcluster
from tether.testenv import kubeconfig as kubeconfigs

pytestmark = pytest.mark.cluster


@pytest.fixture
def proxied(cluster: localcluster.ClusterState, tmp_path: Path) -> Iterator[tuple[FaultProxy, str]]:
    proxy = FaultProxy(tmp_path, cluster.server, cluster.ca_file)
    path = tmp_path / "kubeconfig"
    kubeconfigs.write(path, server=proxy.url, ca_file=str(proxy.cert), token=cluster.token)
    try:
        yield proxy, str(path)
    finally:
        proxy.close()


async def test_a_429_is_retried_after_its_retry_after_until_it_passes(
    proxied: tuple[FaultProxy, str],
) -> None:
    proxy, kubeconfig = proxied
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        proxy.episode("429", seconds=2.5, ratio=1.0)
        ns = await kube.get("v1", "Namespace", "default")
    assert ns["metadata"]["name"] == "default"
    assert proxy.counts["429"] >= 2


async def test_a_500_without_retry_after_is_an_error_at_once(
    proxied: tuple[FaultProxy, str],
) -> None:
    proxy, kubeconfig = proxied
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        await kube.get("v1", "Namespace", "default")  # discovery, before the episode
        proxy.episode("500", seconds=30, ratio=1.0)
        with pytest.raises(ApiError) as caught:
            await kube.get("v1", "Namespace", "default")
        proxy.until = time.monotonic()
    assert caught.value.status == 500
    assert proxy.counts["500"] == 1
