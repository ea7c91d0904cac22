"""The kube client authenticates with a real exec credential plugin against the
local API server: a bearer token, a token refreshed after a 401, and a client
certificate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fixtures.exec_plugin import exec_kubeconfig, write_plugin
from tether.adapters.kube import KubeClient
from tether.testenv import cluster as localcluster


def in_an_hour() -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


async def who_am_i(kube: KubeClient) -> str:
    review = await kube.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    return str(review["status"]["userInfo"]["username"])


async def test_a_token_from_an_exec_plugin_is_accepted_and_reused(
    cluster: localcluster.ClusterState, tmp_path: Path
) -> None:
    plugin = write_plugin(tmp_path / "plugin")
    plugin.answer(status={"token": cluster.token, "expirationTimestamp": in_an_hour()})
    path = exec_kubeconfig(cluster, plugin, tmp_path / "kubeconfig")
    async with KubeClient.from_kubeconfig(path) as kube:
        assert await who_am_i(kube) == "admin"
        await kube.discover()
        assert await who_am_i(kube) == "admin"
    runs = plugin.runs()
    assert len(runs) == 1
    assert runs[0]["info"]["spec"]["cluster"]["server"] == cluster.server


async def test_a_rejected_token_runs_the_plugin_again_and_the_request_succeeds(
    cluster: localcluster.ClusterState, tmp_path: Path
) -> None:
    plugin = write_plugin(tmp_path / "plugin")
    plugin.answer(status={"token": "revoked-token"})
    path = exec_kubeconfig(cluster, plugin, tmp_path / "kubeconfig")
    async with KubeClient.from_kubeconfig(path) as kube:
        plugin.answer(status={"token": cluster.token})  # the provider has rotated it
        assert await who_am_i(kube) == "admin"
    assert len(plugin.runs()) == 2


async def test_a_client_certificate_from_an_exec_plugin_is_presented(
    cluster: localcluster.ClusterState, tmp_path: Path
) -> None:
    state_dir = Path(cluster.directory)
    cert = next(state_dir.rglob("kubelet-client.crt"))
    key = cert.with_suffix(".key")
    plugin = write_plugin(tmp_path / "plugin")
    plugin.answer(
        status={"clientCertificateData": cert.read_text(), "clientKeyData": key.read_text()}
    )
    path = exec_kubeconfig(cluster, plugin, tmp_path / "kubeconfig")
    async with KubeClient.from_kubeconfig(path) as kube:
        assert await who_am_i(kube) == "kube-apiserver-kubelet-client"
