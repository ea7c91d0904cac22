"""``GET /api/v1/clusters`` on a real ``tether controller --listen``."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from fixtures.server import TetherServer
from tether.adapters.kube import cluster_config
from tether.engine import clusters as model
from tether.testenv import cluster as localcluster


@pytest.fixture
def registered(tether_server: TetherServer, cluster: localcluster.ClusterState) -> Iterator[str]:
    name = f"api-{secrets.token_hex(3)}"
    server, config = cluster_config.from_kubeconfig(cluster.kubeconfig)
    secret = model.to_secret(
        model.Cluster(name=name, server=server, config=config), tether_server.namespace
    )
    with cluster.client() as http:
        resp = http.post(f"/api/v1/namespaces/{tether_server.namespace}/secrets", json=secret)
        assert resp.status_code == 201, resp.text
        yield name
        http.delete(
            f"/api/v1/namespaces/{tether_server.namespace}/secrets/{secret['metadata']['name']}"
        )


def test_the_api_lists_clusters_with_reachability_version_and_app_count(
    tether_server: TetherServer, registered: str, cluster: localcluster.ClusterState
) -> None:
    with tether_server.readonly() as http:
        resp = http.get("/api/v1/clusters")
    assert resp.status_code == 200, resp.text
    rows = {row["name"]: row for row in resp.json()}
    assert rows["in-cluster"]["reachable"] is True
    row = rows[registered]
    assert row["server"] == cluster.server and row["reachable"] is True
    assert row["version"] == rows["in-cluster"]["version"] and row["apps"] == 0
    assert cluster.token not in resp.text


def test_the_clusters_route_needs_a_token(tether_server: TetherServer) -> None:
    with tether_server.client() as http:
        assert http.get("/api/v1/clusters").status_code == 401
