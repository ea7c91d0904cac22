"""One Tether, two real control planes: the same chart deployed to both with
different values; the second cluster's API server stopped and started again.

The second cluster is a whole local control plane of its own (etcd,
kube-apiserver, ...), registered as a cluster Secret from its kubeconfig. Its
API server is stopped by killing the process its state records, and started
again with the very same command line (same port, certificates and etcd data),
as a restarted or briefly unreachable API server would come back.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.tether import APP_NS, Apps, Projects, condition, example_files
from fixtures.waiting import await_for, wait_for
from tether.adapters.kube import KubeClient, cluster_config
from tether.controller import clusters as pool
from tether.engine import clusters as model
from tether.testenv import cluster as localcluster
from tether.testenv import processes
from tether.testenv.clusterstate import Component

AUTO = {"prune": True, "selfHeal": True}
CONFIG = "finance-api-config"


@pytest.fixture(scope="module")
def second_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[localcluster.ClusterState]:
    directory = tmp_path_factory.mktemp("second-cluster") / "state"
    state = localcluster.up(directory, nodes=1)
    try:
        yield state
    finally:
        localcluster.down(directory)


def _apiserver(state: localcluster.ClusterState) -> Component:
    fresh = localcluster.ClusterState.load(Path(state.directory))
    assert fresh is not None
    return next(c for c in fresh.components if c.name == "kube-apiserver")


def stop_apiserver(state: localcluster.ClusterState) -> list[str]:
    """Kill the second cluster's kube-apiserver; returns its command line."""
    comp = _apiserver(state)
    cmdline = Path(f"/proc/{comp.pid}/cmdline").read_bytes().split(b"\0")
    command = [part.decode() for part in cmdline if part]
    assert processes.stop(comp.pid, str(Path(state.directory)))
    return command


def start_apiserver(state: localcluster.ClusterState, command: list[str]) -> None:
    """Start it again as it was, and record the new pid so ``down`` stops it."""
    fresh = localcluster.ClusterState.load(Path(state.directory))
    assert fresh is not None
    comp = next(c for c in fresh.components if c.name == "kube-apiserver")
    comp.pid = processes.start(command, Path(comp.log), Path(state.directory))
    fresh.save()
    with_client = localcluster.ClusterState.load(Path(state.directory))
    assert with_client is not None

    def ready() -> bool:
        try:
            with with_client.client(timeout=2) as http:
                return http.get("/readyz").status_code == 200
        except Exception:
            return False

    wait_for(ready, timeout=90, what="the second kube-apiserver to answer again")


@pytest.fixture
async def registered(
    second_cluster: localcluster.ClusterState, kube: KubeClient
) -> AsyncIterator[str]:
    name = f"second-{secrets.token_hex(3)}"
    server, config = cluster_config.from_kubeconfig(second_cluster.kubeconfig)
    secret = model.to_secret(model.Cluster(name=name, server=server, config=config), APP_NS)
    await kube.create(secret)
    yield name
    await kube.delete("v1", "Secret", secret["metadata"]["name"], APP_NS)


@pytest.fixture
async def second_kube(second_cluster: localcluster.ClusterState) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_kubeconfig(second_cluster.kubeconfig) as client:
        yield client


def chart_app(ns: str, currency: str, cluster: str | None = None) -> dict[str, Any]:
    destination: dict[str, Any] = {"namespace": ns}
    if cluster:
        destination["name"] = cluster
    return {
        "destination": destination,
        "source": {
            "repoURL": "",  # filled in below
            "path": "apps/finance",
            "targetRevision": "main",
            "helm": {"parameters": [{"name": "config.CURRENCY", "value": currency}]},
        },
    }


async def config_data(kube: KubeClient, ns: str) -> dict[str, str]:
    found = await kube.get_or_none("v1", "ConfigMap", CONFIG, ns)
    return dict((found or {}).get("data") or {})


async def test_one_tether_deploys_to_two_clusters_and_rides_out_an_outage_of_one(
    git_repo: Any,
    apps: Apps,
    kube: KubeClient,
    second_kube: KubeClient,
    second_cluster: localcluster.ClusterState,
    registered: str,
    dest_namespace: str,
    make_project: Projects,
) -> None:
    # The project names each cluster it allows (by name): the default one allows home only.
    project = await make_project.create(
        destinations=[
            {"name": "in-cluster", "namespace": "*"},
            {"name": registered, "namespace": "*"},
        ]
    )
    files = example_files("helm/finance-app")
    first_sha = git_repo.commit(files)
    specs = {
        "home": chart_app(dest_namespace, "EUR"),
        "far": chart_app(dest_namespace, "USD", registered),
    }
    names = {}
    for which, spec in specs.items():
        spec["source"]["repoURL"] = git_repo.git_url
        spec["project"] = project
        names[which] = await apps.create(
            git_repo.git_url, dest=dest_namespace, automated=AUTO, extra=spec,
            options=["CreateNamespace=true"],
        )  # fmt: skip
    for name in names.values():
        await apps.wait_synced(name, revision=first_sha)
    assert (await config_data(kube, dest_namespace))["CURRENCY"] == "EUR"
    assert (await config_data(second_kube, dest_namespace))["CURRENCY"] == "USD"

    command = stop_apiserver(second_cluster)
    try:
        # A change the controller must act on while the second cluster is away.
        far = await apps.wait(
            names["far"],
            lambda st: (
                (st.get("sync") or {}).get("status") == "Unknown"
                and condition(st, pool.CONDITION) is not None
            ),
            "Unknown with ClusterUnreachable",
        )
        message = condition(far, pool.CONDITION)["message"]  # type: ignore[index]
        assert registered in message and second_cluster.server in message
        assert far["health"]["status"] == "Unknown"

        values = files["apps/finance/values.yaml"].replace("LOG_LEVEL: info", "LOG_LEVEL: debug")
        second_sha = git_repo.commit({"apps/finance/values.yaml": values}, "debug logs")
        home = await apps.wait_synced(names["home"], revision=second_sha)
        assert condition(home, pool.CONDITION) is None
        assert (await config_data(kube, dest_namespace))["LOG_LEVEL"] == "debug"
        assert (await apps.status(names["far"]))["sync"]["status"] == "Unknown"
    finally:
        start_apiserver(second_cluster, command)

    far = await apps.wait_synced(names["far"], revision=second_sha)
    assert condition(far, pool.CONDITION) is None

    async def second_has_debug() -> bool:
        data = await config_data(second_kube, dest_namespace)
        return data.get("LOG_LEVEL") == "debug" and data.get("CURRENCY") == "USD"

    await await_for(second_has_debug, what="the second cluster's ConfigMap at the new commit")
