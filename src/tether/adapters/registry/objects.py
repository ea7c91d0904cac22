"""The Kubernetes objects the registry-credential reconciler writes.

Kept beside the providers so the controller only decides *when* (engine) and
hands these shapes to the Kubernetes adapter; the payload comes from
``tether.engine.registry.dockerconfigjson``.
"""

from __future__ import annotations

import base64
from typing import Any

from tether.engine.objects import Obj

SECRET_TYPE = "kubernetes.io/dockerconfigjson"
MANAGED_BY_LABEL = "tether.dev/registry-credential"


def pull_secret(name: str, namespace: str, owner: str, config: bytes) -> Obj:
    """The imagePullSecret object; ``owner`` is the RegistryCredential's name."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": SECRET_TYPE,
        "metadata": {"name": name, "namespace": namespace, "labels": {MANAGED_BY_LABEL: owner}},
        "data": {".dockerconfigjson": base64.b64encode(config).decode()},
    }


def with_pull_secret(service_account: Obj, secret_name: str) -> Obj | None:
    """The ServiceAccount with ``secret_name`` in imagePullSecrets, or None if already there."""
    current: list[dict[str, Any]] = list(service_account.get("imagePullSecrets") or [])
    if any(ref.get("name") == secret_name for ref in current):
        return None
    return {**service_account, "imagePullSecrets": [*current, {"name": secret_name}]}
