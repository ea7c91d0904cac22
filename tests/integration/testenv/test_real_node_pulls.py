"""Real nodes pull from the authenticated local registry: a wrong secret is containerd's 401."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
from realnode_support import (
    pod_spec,
    run_pod,
    tether,
    wait,
)

from fixtures.registry import RegistryServer
from tether.testenv import cluster as localcluster
from tether.testenv import ociarchive


def _push(registry: RegistryServer, image: ociarchive.Image, repo: str, tag: str) -> None:
    built = ociarchive.build(image)
    user = "ci"
    with httpx.Client(base_url=registry.url, auth=(user, registry.users[user])) as http:
        for blob in (built.layer, built.config):
            start = http.post(f"/v2/{repo}/blobs/uploads/")
            start.raise_for_status()
            loc = start.headers["location"]
            sep = "&" if "?" in loc else "?"
            http.put(f"{loc}{sep}digest={built.digest(blob)}", content=blob).raise_for_status()
        http.put(
            f"/v2/{repo}/manifests/{tag}",
            content=built.manifest,
            headers={"Content-Type": ociarchive.OCI_MANIFEST},
        ).raise_for_status()


def _pull_secret(registry: str, user: str, password: str) -> dict[str, Any]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = {"auths": {registry: {"username": user, "password": password, "auth": auth}}}
    return {
        "metadata": {"name": "pull"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
    }


def test_a_wrong_pull_secret_gives_image_pull_backoff_and_the_right_one_runs(
    real_node_cluster: localcluster.ClusterState,
    real_ns: tuple[httpx.Client, str],
    tmp_path: Path,
) -> None:
    client, name = real_ns
    with RegistryServer(tmp_path / "registry", users={"ci": secrets.token_urlsafe(12)}) as reg:
        body = f"pulled with credentials {name}\n"
        _push(reg, ociarchive.busybox_http_image("x", body), "team/hello", "2.0")
        trusted = tether(
            "cluster", "trust-registry", reg.host, "--dir", real_node_cluster.directory
        )
        assert trusted.returncode == 0, trusted.stderr
        image = f"{reg.host}/team/hello:2.0"

        secret = _pull_secret(reg.host, "ci", "not-the-password")
        assert client.post(f"/api/v1/namespaces/{name}/secrets", json=secret).status_code == 201
        pod = pod_spec("denied", image, imagePullSecrets=[{"name": "pull"}])
        assert client.post(f"/api/v1/namespaces/{name}/pods", json=pod).status_code == 201

        def waiting_reason(reason: str) -> dict[str, Any] | None:
            live = client.get(f"/api/v1/namespaces/{name}/pods/denied").json()
            for cs in live.get("status", {}).get("containerStatuses", []):
                waiting = cs.get("state", {}).get("waiting") or {}
                if waiting.get("reason") == reason:
                    return dict(waiting)
            return None

        wait(lambda: waiting_reason("ImagePullBackOff"), "ImagePullBackOff from the kubelet")
        events = client.get(
            f"/api/v1/namespaces/{name}/events",
            params={"fieldSelector": "involvedObject.name=denied,reason=Failed"},
        ).json()["items"]
        messages = " ".join(e["message"] for e in events)
        assert "ErrImagePull" in messages or "401 Unauthorized" in messages
        assert f"HEAD request to http://{reg.host}/v2/team/hello/manifests/2.0: 401" in messages
        assert "not-the-password" not in messages

        right = _pull_secret(reg.host, "ci", reg.users["ci"])
        replaced = client.put(f"/api/v1/namespaces/{name}/secrets/pull", json=right)
        assert replaced.status_code == 200, replaced.text
        live, seconds = run_pod(
            client, name, pod_spec("allowed", image, imagePullSecrets=[{"name": "pull"}])
        )
        print(f"pod create to Ready, pulling from the registry: {seconds:.2f}s")
        assert httpx.get(f"http://{live['status']['podIP']}:8080/", timeout=5).text == body
