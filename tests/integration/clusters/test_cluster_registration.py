"""``tether clusters add|list|remove`` against the real API server.

The test cluster is registered under another name (its own kubeconfig's
server URL differs from ``https://kubernetes.default.svc``), so it stands for
a second cluster; a server nobody answers stands for one that is down.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fixtures.exec_plugin import exec_kubeconfig, write_plugin
from tether.cli.main import cli
from tether.engine import clusters as model
from tether.engine.registry.policy import POLICY_CONFIGMAP
from tether.testenv import cluster as localcluster

APP_NS = "tether"


def tether(cluster: localcluster.ClusterState, *args: str) -> str:
    result = CliRunner().invoke(
        cli, [*args], env={"KUBECONFIG": cluster.kubeconfig, "TETHER_KUBECONFIG": None}
    )
    assert result.exit_code == 0, result.output
    return result.output


def secret_of(cluster: localcluster.ClusterState, name: str) -> dict[str, object]:
    with cluster.client() as http:
        resp = http.get(f"/api/v1/namespaces/{APP_NS}/secrets/{name}")
        assert resp.status_code == 200, resp.text
        return dict(resp.json())


@pytest.fixture
def cluster_name(installed: localcluster.ClusterState) -> Iterator[str]:
    name = f"c-{secrets.token_hex(3)}"
    yield name
    with installed.client() as http:
        http.delete(f"/api/v1/namespaces/{APP_NS}/secrets/{model.secret_name_for(name)}")


def rows(cluster: localcluster.ClusterState) -> dict[str, dict[str, object]]:
    listed = json.loads(tether(cluster, "clusters", "list", "-o", "json"))
    return {str(r["name"]): r for r in listed}


def test_a_registered_cluster_is_stored_as_an_argocd_secret_without_printing_it(
    installed: localcluster.ClusterState, cluster_name: str
) -> None:
    output = tether(
        installed, "clusters", "add", cluster_name, "--kubeconfig", installed.kubeconfig
    )
    assert installed.token not in output
    secret = secret_of(installed, model.secret_name_for(cluster_name))
    meta = secret["metadata"]
    assert isinstance(meta, dict)
    assert meta["labels"]["argocd.argoproj.io/secret-type"] == "cluster"
    data = {k: base64.b64decode(v).decode() for k, v in dict(secret["data"]).items()}  # type: ignore[arg-type]
    assert data["name"] == cluster_name and data["server"] == installed.server
    config = json.loads(data["config"])
    assert config["bearerToken"] == installed.token
    assert (
        base64.b64decode(config["tlsClientConfig"]["caData"])
        == Path(installed.ca_file).read_bytes()
    )


def test_list_shows_reachability_version_and_app_count(
    installed: localcluster.ClusterState, cluster_name: str
) -> None:
    tether(installed, "clusters", "add", cluster_name, "--kubeconfig", installed.kubeconfig)
    listed = rows(installed)
    home, added = listed["in-cluster"], listed[cluster_name]
    assert home["reachable"] is True and str(home["version"]).startswith("v1.")
    assert added["reachable"] is True and added["version"] == home["version"]
    assert added["apps"] == 0
    table = tether(installed, "clusters", "list")
    assert cluster_name in table and "Reachable" in table
    assert installed.token not in table


def test_a_cluster_that_does_not_answer_is_listed_as_unreachable(
    installed: localcluster.ClusterState, cluster_name: str, tmp_path: Path
) -> None:
    tether(
        installed, "clusters", "add", cluster_name, "--kubeconfig", installed.kubeconfig,
        "--server", "https://127.0.0.1:9",
    )  # fmt: skip
    row = rows(installed)[cluster_name]
    assert row["reachable"] is False
    assert "127.0.0.1:9" in str(row["message"])


def test_an_exec_plugin_context_is_registered_and_used(
    installed: localcluster.ClusterState, cluster_name: str, tmp_path: Path
) -> None:
    plugin = write_plugin(tmp_path / "plugin")
    plugin.answer(status={"token": installed.token})
    path = exec_kubeconfig(installed, plugin, tmp_path / "kubeconfig")
    tether(installed, "clusters", "add", cluster_name, "--kubeconfig", path)
    data = secret_of(installed, model.secret_name_for(cluster_name))["data"]
    config = json.loads(base64.b64decode(dict(data)["config"]))  # type: ignore[call-overload]
    assert config["execProviderConfig"]["command"] == str(plugin.path)
    assert "bearerToken" not in config
    # Registering a cluster is writing a Secret: the plugin runs only once the
    # administrator's exec allow-list names it.
    with exec_allow_list(installed, []):
        row = rows(installed)[cluster_name]
        assert row["reachable"] is False
        assert f"{plugin.path} is not in execCommands" in str(row["message"])
        assert not plugin.runs()
    with exec_allow_list(installed, [str(plugin.path)]):
        assert rows(installed)[cluster_name]["reachable"] is True
        assert plugin.runs()


@contextlib.contextmanager
def exec_allow_list(cluster: localcluster.ClusterState, commands: list[str]) -> Iterator[None]:
    """The administrator's exec allow-list (ConfigMap tether-registry-policy) for a while."""
    url = f"/api/v1/namespaces/{APP_NS}/configmaps"
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": POLICY_CONFIGMAP, "namespace": APP_NS},
        "data": {"execCommands": "\n".join(commands) + "\n"},
    }
    with cluster.client() as client:
        client.delete(f"{url}/{POLICY_CONFIGMAP}")
        client.post(url, json=body).raise_for_status()
        try:
            yield
        finally:
            client.delete(f"{url}/{POLICY_CONFIGMAP}")


def test_remove_forgets_the_cluster(
    installed: localcluster.ClusterState, cluster_name: str
) -> None:
    tether(installed, "clusters", "add", cluster_name, "--kubeconfig", installed.kubeconfig)
    tether(installed, "clusters", "remove", cluster_name)
    assert cluster_name not in rows(installed)


def test_an_argocd_cluster_secret_is_used_as_it_is(
    installed: localcluster.ClusterState, cluster_name: str
) -> None:
    ca = base64.b64encode(Path(installed.ca_file).read_bytes()).decode()
    config = {"bearerToken": installed.token, "tlsClientConfig": {"insecure": False, "caData": ca}}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": model.secret_name_for(cluster_name),
            "labels": {"argocd.argoproj.io/secret-type": "cluster"},
            "annotations": {"managed-by": "argocd.argoproj.io"},
        },
        "type": "Opaque",
        "stringData": {
            "name": cluster_name,
            "server": installed.server,
            "config": json.dumps(config),
        },
    }
    with installed.client() as http:
        resp = http.post(f"/api/v1/namespaces/{APP_NS}/secrets", json=secret)
        assert resp.status_code == 201, resp.text
    row = rows(installed)[cluster_name]
    assert row["reachable"] is True and str(row["version"]).startswith("v1.")
