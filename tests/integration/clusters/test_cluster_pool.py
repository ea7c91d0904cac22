"""The controller's connections to registered clusters, against the real API server:
made on first use, shared, rebuilt when the Secret changes, closed when idle."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.tether import APP_NS
from tether.adapters.kube import KubeClient, cluster_config
from tether.controller import clusters as pool
from tether.controller.live_cache import LiveCache
from tether.engine import clusters as model
from tether.testenv import cluster as localcluster


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Registry:
    def __init__(self, kube: KubeClient, cluster: localcluster.ClusterState) -> None:
        self.kube = kube
        self.cluster = cluster
        self.secrets: list[str] = []

    async def add(self, name: str, **changes: Any) -> model.Cluster:
        server, config = cluster_config.from_kubeconfig(self.cluster.kubeconfig)
        server = changes.pop("server", server)
        config["tlsClientConfig"].update(changes)
        entry = model.Cluster(name=name, server=server, config=config)
        secret = model.to_secret(entry, APP_NS)
        await self.kube.apply(secret, field_manager="test")
        self.secrets.append(secret["metadata"]["name"])
        return entry


@pytest.fixture
async def registry(
    installed: localcluster.ClusterState, kube: KubeClient
) -> AsyncIterator[Registry]:
    reg = Registry(kube, installed)
    yield reg
    for name in reg.secrets:
        await kube.delete("v1", "Secret", name, APP_NS)


@pytest.fixture
async def connections(kube: KubeClient) -> AsyncIterator[tuple[pool.ClusterPool, Clock]]:
    clock = Clock()
    live = LiveCache(kube, lambda _t, _o: None)
    made = pool.ClusterPool(kube, live, APP_NS, lambda _t, _o: None, clock=clock)
    yield made, clock
    await made.close()


def name() -> str:
    return f"p-{secrets.token_hex(3)}"


async def test_the_home_cluster_needs_no_secret(
    connections: tuple[pool.ClusterPool, Clock],
) -> None:
    conns, _ = connections
    for server, cluster in (("", ""), (model.IN_CLUSTER, ""), ("", "in-cluster")):
        assert (await conns.for_destination(server, cluster)) is conns.home
    assert conns.open_servers() == []


async def test_a_connection_is_made_once_shared_and_closed_when_idle(
    connections: tuple[pool.ClusterPool, Clock], registry: Registry
) -> None:
    conns, clock = connections
    entry = await registry.add(name())
    first = await conns.for_destination("", entry.name)
    assert first.version.startswith("v1.")
    # the CA (and any client key) from the Secret is not left on disk
    assert first.kube.conn.ca_file and not Path(first.kube.conn.ca_file).exists()
    assert (await conns.for_destination(entry.server, "")) is first
    assert conns.open_servers() == [entry.server]
    clock.now += pool.IDLE_AFTER + 1
    assert await conns.drop_idle() == [entry.server]
    assert conns.open_servers() == []
    again = await conns.for_destination("", entry.name)
    assert again is not first


async def test_a_changed_secret_gets_a_new_client(
    connections: tuple[pool.ClusterPool, Clock], registry: Registry
) -> None:
    conns, clock = connections
    cluster_name = name()
    await registry.add(cluster_name)
    first = await conns.for_destination("", cluster_name)
    await registry.add(cluster_name, serverName="localhost")  # the serving cert names it
    clock.now += pool.SECRETS_TTL + 1
    second = await conns.for_destination("", cluster_name)
    assert second is not first
    assert second.kube.conn.server_name == "localhost"
    assert second.version == first.version


async def test_a_cluster_that_does_not_answer_is_unreachable_and_named(
    connections: tuple[pool.ClusterPool, Clock], registry: Registry
) -> None:
    conns, _ = connections
    entry = await registry.add(name(), server="https://127.0.0.1:9")
    with pytest.raises(pool.Unreachable, match=rf"cluster {entry.name} \(https://127.0.0.1:9\)"):
        await conns.for_destination("", entry.name)
    assert conns.open_servers() == []


async def test_a_destination_nobody_registered_is_refused(
    connections: tuple[pool.ClusterPool, Clock],
) -> None:
    conns, _ = connections
    with pytest.raises(model.UnknownCluster, match="no cluster is registered with name nowhere"):
        await conns.for_destination("", "nowhere")
