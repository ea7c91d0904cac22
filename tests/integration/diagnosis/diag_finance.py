"""Helpers for the diagnosis tests: the finance example with a failure built in.

The example comes from ``examples/finance-app/plain``; ``finance_files`` edits
its Deployment as YAML (a short progress deadline so the real deployment
controller gives up quickly, a failure mode for kwok, other fields) and returns
files ready to commit. ``explained`` waits until ``AppService.explain`` tells
the expected story, since Events and conditions arrive a little after the
objects themselves.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from fixtures.tether import example_files
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.service import AppService

DEPLOYMENT = "apps/finance/deployment.yaml"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/finance-api:1.4"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
SIMULATE = "testenv.tether.dev/simulate"
MESSAGE = "testenv.tether.dev/message"


def finance_files(
    *,
    replicas: int = 1,
    simulate: str | None = None,
    message: str | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, str]:
    """The finance example; its Deployment with ``progressDeadlineSeconds: 10`` and a failure."""
    files = example_files()
    deployment = yaml.safe_load(files[DEPLOYMENT])
    spec = deployment["spec"]
    spec["replicas"] = replicas
    spec["progressDeadlineSeconds"] = 10
    template = spec["template"]
    if simulate:
        template["metadata"]["labels"][SIMULATE] = simulate
    if message:
        template["metadata"].setdefault("annotations", {})[MESSAGE] = message
    if edit is not None:
        edit(deployment)
    files[DEPLOYMENT] = yaml.safe_dump(deployment, sort_keys=False)
    return files


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    found = deployment["spec"]["template"]["spec"]["containers"][0]
    assert isinstance(found, dict)
    return found


async def app_health(apps: Any, name: str, status: str) -> dict[str, Any]:
    """Waits until the Application's status.health is ``status``; returns status.health."""
    st = await apps.wait(
        name,
        lambda s: (s.get("health") or {}).get("status") == status,
        f"health {status}",
        timeout=60,
    )
    health = st["health"]
    assert isinstance(health, dict)
    return health


async def explained(
    service: AppService, name: str, check: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """Waits until ``service.explain(name)`` satisfies ``check``; returns that explanation.

    On timeout the last explanation's text is in the assertion message.
    """
    last: dict[str, Any] = {}

    async def probe() -> dict[str, Any] | None:
        nonlocal last
        last = await service.explain(name)
        return last if check(last) else None

    try:
        return await await_for(probe, timeout=60, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nlast explanation:\n{last.get('text')}\n{last}") from None


def chain_reasons(explanation: dict[str, Any]) -> list[tuple[str, str]]:
    return [(link["kind"], link["reason"]) for link in explanation["chain"]]


def chain_has(explanation: dict[str, Any], *kinds_reasons: tuple[str, str]) -> bool:
    return chain_reasons(explanation)[: len(kinds_reasons)] == list(kinds_reasons)


def dockerconfig_secret(name: str, namespace: str, registry: str) -> dict[str, Any]:
    auth = base64.b64encode(b"AWS:expired-token").decode()
    config = {"auths": {registry: {"username": "AWS", "password": "expired-token", "auth": auth}}}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": name, "namespace": namespace},
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
    }


async def create_namespace(kube: KubeClient, name: str) -> None:
    await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


async def list_of(kube: KubeClient, api_version: str, kind: str, ns: str) -> list[dict[str, Any]]:
    api = await kube.resource_for(api_version, kind)
    items, _ = await kube.list(api, ns)
    return list(items)


# -- a Tether whose ServiceAccount may not write ConfigMaps -----------------------------

LIMITED_ROLE = "tether-diag-no-configmap-writes"
ALL_VERBS = ["*"]
CORE_WRITABLE = [
    "pods",
    "pods/log",
    "services",
    "endpoints",
    "secrets",
    "events",
    "namespaces",
    "serviceaccounts",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "resourcequotas",
    "limitranges",
    "nodes",
]
GROUPS_WRITABLE = [
    "apps",
    "batch",
    "tether.dev",
    "events.k8s.io",
    "apiextensions.k8s.io",
    "networking.k8s.io",
    "discovery.k8s.io",
    "autoscaling",
    "coordination.k8s.io",
    "policy",
]


def limited_cluster_role() -> dict[str, Any]:
    """Everything Tether needs, except writing ConfigMaps (it may still read and watch them)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": LIMITED_ROLE},
        "rules": [
            {"apiGroups": [""], "resources": CORE_WRITABLE, "verbs": ALL_VERBS},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": GROUPS_WRITABLE, "resources": ["*"], "verbs": ALL_VERBS},
        ],
    }


async def service_account_kubeconfig(
    kube: KubeClient, admin_kubeconfig: str, namespace: str, account: str, path: Path
) -> str:
    """A kubeconfig for ``account``, its token from the TokenRequest API; returns its path."""
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": namespace},
        }
    )
    await kube.create(limited_cluster_role())
    await kube.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": LIMITED_ROLE},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": LIMITED_ROLE,
            },
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        }
    )
    answer = await kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        body={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    config = yaml.safe_load(Path(admin_kubeconfig).read_text())
    for user in config["users"]:
        user["user"] = {"token": answer["status"]["token"]}
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return str(path)


async def remove_limited_role(kube: KubeClient) -> None:
    rbac = "rbac.authorization.k8s.io/v1"
    await kube.delete(rbac, "ClusterRoleBinding", LIMITED_ROLE)
    await kube.delete(rbac, "ClusterRole", LIMITED_ROLE)
