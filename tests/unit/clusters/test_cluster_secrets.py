"""Cluster Secrets in Argo CD's format: read as Argo CD writes them, written so it reads them."""

from __future__ import annotations

import base64
import json

import pytest

from tether.engine import clusters, projects


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


ARGOCD_SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {
        "name": "cluster-prod-eks-1234567",
        "namespace": "argocd",
        "labels": {"argocd.argoproj.io/secret-type": "cluster", "env": "prod"},
    },
    "type": "Opaque",
    "data": {
        "name": b64("prod"),
        "server": b64("https://ABC.gr7.eu-west-1.eks.amazonaws.com"),
        "config": b64(
            json.dumps(
                {
                    "execProviderConfig": {
                        "command": "argocd-k8s-auth",
                        "args": ["aws", "--cluster-name", "prod"],
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "env": {"AWS_REGION": "eu-west-1"},
                    },
                    "tlsClientConfig": {"insecure": False, "caData": "Q0E="},
                }
            )
        ),
        "namespaces": b64("web, api"),
    },
}


def test_an_argocd_cluster_secret_is_read_as_it_is() -> None:
    cluster = clusters.from_secret(ARGOCD_SECRET)
    assert cluster.name == "prod"
    assert cluster.server == "https://ABC.gr7.eu-west-1.eks.amazonaws.com"
    assert cluster.config["execProviderConfig"]["command"] == "argocd-k8s-auth"
    assert cluster.namespaces == ("web", "api")
    assert ("env", "prod") in cluster.labels
    assert cluster.secret == "cluster-prod-eks-1234567"


def test_string_data_is_read_too_and_a_missing_name_is_the_server() -> None:
    secret = {
        "metadata": {"name": "c", "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
        "stringData": {"server": "https://10.0.0.5:6443/", "config": '{"bearerToken": "t"}'},
    }
    cluster = clusters.from_secret(secret)
    assert (cluster.name, cluster.server) == ("https://10.0.0.5:6443", "https://10.0.0.5:6443")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": b64("x")}, "no server"),
        ({"server": b64("https://x"), "config": b64("{not json")}, "config is not JSON"),
        ({"server": "%%%"}, "server is not base64"),
    ],
)
def test_an_unusable_secret_names_the_field(data: dict[str, str], message: str) -> None:
    with pytest.raises(clusters.ClusterSecretError, match=message):
        clusters.from_secret({"metadata": {"name": "bad"}, "data": data})


def test_a_written_secret_reads_back_the_same() -> None:
    cluster = clusters.Cluster(
        name="Stage EU",
        server="https://stage.example:6443",
        config={"bearerToken": "t", "tlsClientConfig": {"serverName": "api.stage"}},
        namespaces=("a",),
        project="team-a",
        labels=(("env", "stage"),),
    )
    secret = clusters.to_secret(cluster, "tether")
    assert secret["metadata"]["name"] == "cluster-stage-eu"
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "cluster"
    back = clusters.from_secret(secret)
    assert (back.name, back.server, back.config) == (cluster.name, cluster.server, cluster.config)
    assert (back.namespaces, back.project) == (("a",), "team-a")


REGISTERED = [
    clusters.Cluster(name="stage", server="https://stage:6443"),
    clusters.Cluster(name="prod", server="https://prod:6443"),
]


def test_a_destination_picks_its_cluster_by_server_or_by_name() -> None:
    assert clusters.for_destination("https://prod:6443/", "", REGISTERED).name == "prod"
    assert clusters.for_destination("", "stage", REGISTERED).server == "https://stage:6443"


def test_the_cluster_tether_runs_in_is_the_default_by_server_and_name() -> None:
    for server, name in (("", ""), (clusters.IN_CLUSTER, ""), ("", "in-cluster")):
        assert clusters.for_destination(server, name, REGISTERED).in_cluster


def test_a_secret_for_the_in_cluster_server_renames_it() -> None:
    renamed = [*REGISTERED, clusters.Cluster(name="home", server=clusters.IN_CLUSTER)]
    assert clusters.for_destination("", "home", renamed).in_cluster
    assert clusters.for_destination("", "", renamed).name == "home"


def test_an_unknown_destination_is_refused() -> None:
    with pytest.raises(clusters.UnknownCluster, match="no cluster is registered with name qa"):
        clusters.for_destination("", "qa", REGISTERED)
    with pytest.raises(clusters.UnknownCluster, match="server https://qa"):
        clusters.for_destination("https://qa", "", REGISTERED)


def project(*destinations: dict[str, str]) -> projects.Project:
    return projects.Project(
        "p", projects.ProjectSpec.model_validate({"destinations": destinations})
    )


def test_a_project_allows_clusters_by_name_or_by_server() -> None:
    by_name = project({"name": "prod-*", "namespace": "web"})
    assert projects.destination_allowed(by_name, "https://p:6443", "web", "tether", "prod-eu")
    assert not projects.destination_allowed(by_name, "https://s:6443", "web", "tether", "stage")
    assert not projects.destination_allowed(by_name, "https://p:6443", "api", "tether", "prod-eu")
    by_server = project({"server": "https://p:*", "namespace": "*"})
    assert projects.destination_allowed(by_server, "https://p:6443", "web", "tether", "prod-eu")
    assert not projects.destination_allowed(by_server, clusters.IN_CLUSTER, "web", "tether")


def test_in_cluster_by_name_still_means_the_home_cluster() -> None:
    home = project({"name": "in-cluster", "namespace": "*"})
    assert projects.destination_allowed(home, clusters.IN_CLUSTER, "web", "tether")
    assert not projects.destination_allowed(home, "https://p:6443", "web", "tether", "prod")


def test_a_secret_for_the_in_cluster_server_without_a_name_keeps_in_cluster() -> None:
    unnamed = [*REGISTERED, clusters.Cluster(name=clusters.IN_CLUSTER, server=clusters.IN_CLUSTER)]
    assert clusters.for_destination("", "in-cluster", unnamed).name == "in-cluster"
