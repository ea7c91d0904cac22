"""A client whose token comes from a file (the in-cluster ServiceAccount token, or a
kubeconfig ``tokenFile``) follows the file: a rotated token is used on the next request,
and a token the API server stopped accepting (401) is read again and the request retried.

Real tokens from the API server's TokenRequest, for ServiceAccounts of a real control plane.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from fixtures.waiting import await_for
from tether.adapters.kube import ApiError, KubeClient
from tether.adapters.kube.config import ConnectionConfig
from tether.adapters.kube.token import TokenFile, TokenFileAuth
from tether.testenv import cluster as localcluster


async def service_account_token(kube: KubeClient, namespace: str, name: str) -> str:
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }
    )
    await kube.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{name}-view", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "view",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        }
    )
    answer = await kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    return str(answer["status"]["token"])


async def whoami(kube: KubeClient) -> str:
    review = await kube.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    return str(review["status"]["userInfo"]["username"])


def token_kubeconfig(cluster: localcluster.ClusterState, folder: Path) -> Path:
    """The test cluster's kubeconfig, with its user's credentials replaced by tokenFile."""
    doc = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    base = Path(cluster.kubeconfig).parent
    for entry in doc["clusters"]:
        ca = entry["cluster"].get("certificate-authority")
        if ca:
            entry["cluster"]["certificate-authority"] = str(base / ca)
    for entry in doc["users"]:
        entry["user"] = {"tokenFile": "token"}
    path = folder / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def rotate(path: Path, token: str) -> None:
    fresh = path.with_name("token.new")
    fresh.write_text(token)
    os.replace(fresh, path)


async def test_a_rotated_token_file_is_used_on_the_next_request(
    cluster: localcluster.ClusterState, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    first = await service_account_token(kube, namespace, "first")
    second = await service_account_token(kube, namespace, "second")
    config = token_kubeconfig(cluster, tmp_path)
    rotate(tmp_path / "token", first)
    async with KubeClient.from_kubeconfig(str(config)) as client:
        assert client.conn.token_file == str(tmp_path / "token")
        assert await whoami(client) == f"system:serviceaccount:{namespace}:first"
        rotate(tmp_path / "token", second)

        async def rotated() -> str | None:
            who = await whoami(client)
            return who if who.endswith(":second") else None

        await await_for(rotated, timeout=10, what="the rotated token in use")


async def test_a_refused_token_is_read_again_and_the_watch_retried(
    cluster: localcluster.ClusterState, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    """A watch that meets 401 reads the file again and starts with the new token."""
    doomed = await service_account_token(kube, namespace, "doomed")
    fresh = await service_account_token(kube, namespace, "fresh")
    config = token_kubeconfig(cluster, tmp_path)
    rotate(tmp_path / "token", doomed)
    accounts = await kube.resource_for("v1", "ServiceAccount")

    async def first_event(client: KubeClient) -> str:
        async for event in client.watch(accounts, "", namespace, timeout_seconds=1):
            return event.type
        return "none"

    async with KubeClient.from_kubeconfig(str(config)) as client:
        # The file is looked at only on demand here: the 401 is what makes it read again.
        source = TokenFile(str(tmp_path / "token"), check_every=3600, max_age=3600)
        client.mux.client.auth = client.watch_http.auth = TokenFileAuth(source)
        if client.native is not None:
            client.native.tokens = source
        assert await whoami(client) == f"system:serviceaccount:{namespace}:doomed"
        rotate(tmp_path / "token", fresh)
        await kube.delete("v1", "ServiceAccount", "doomed", namespace)
        conn = client.conn
        static = ConnectionConfig(
            server=conn.server,
            ca_file=conn.ca_file,
            token=doomed,
            cert_file=None,
            key_file=None,
            insecure=False,
            namespace=namespace,
        )
        async with KubeClient(static) as old:

            async def refused() -> bool | None:
                try:
                    await first_event(old)
                except ApiError as exc:
                    return True if exc.status == 401 else None
                return None

            await await_for(refused, timeout=30, what="the deleted account's token refused")
        assert source.reads == 1
        assert await first_event(client) == "ADDED"
        assert source.reads == 2
        assert await whoami(client) == f"system:serviceaccount:{namespace}:fresh"
