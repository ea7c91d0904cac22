"""The ``real_ns`` fixture: a fresh namespace on the real-node cluster."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from realnode_support import wait

from tether.testenv import cluster as localcluster


@pytest.fixture
def real_ns(real_node_cluster: localcluster.ClusterState) -> Iterator[tuple[httpx.Client, str]]:
    name = f"real-{secrets.token_hex(3)}"
    with real_node_cluster.client() as client:
        resp = client.post("/api/v1/namespaces", json={"metadata": {"name": name}})
        assert resp.status_code == 201, resp.text
        wait(
            lambda: client.get(f"/api/v1/namespaces/{name}/serviceaccounts/default").is_success,
            "the default ServiceAccount",
        )
        yield client, name
        client.delete(f"/api/v1/namespaces/{name}")
