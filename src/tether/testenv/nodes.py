"""Probes and fake nodes for the local control plane, over plain HTTP."""

from __future__ import annotations

import httpx

NODE_ANNOTATION = "kwok.x-k8s.io/node"


class NodeError(RuntimeError):
    """A fake node could not be registered."""


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def api_ready(client: httpx.Client) -> bool:
    try:
        return client.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def create_node(client: httpx.Client, name: str) -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "type": "kwok",
            },
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "nodeInfo": {
                "architecture": "amd64",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
                "operatingSystem": "linux",
            },
            "phase": "Running",
        },
    }
    resp = client.post("/api/v1/nodes", json=node)
    if resp.status_code not in (201, 409):
        raise NodeError(f"could not create node {name}: {resp.status_code} {resp.text[:300]}")


def nodes_ready(client: httpx.Client, want: int) -> bool:
    try:
        items = client.get("/api/v1/nodes").json().get("items", [])
    except (httpx.HTTPError, ValueError):
        return False
    ready = 0
    for node in items:
        conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        ready += conds.get("Ready") == "True"
    return ready >= want


def default_sa(client: httpx.Client) -> bool:
    try:
        return client.get("/api/v1/namespaces/default/serviceaccounts/default").status_code == 200
    except httpx.HTTPError:
        return False
