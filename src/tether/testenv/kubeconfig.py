"""Kubeconfig files for the local cluster: the admin's, and one per node identity.

Every identity gets its own file with its own token (mode 0600), verified
against the cluster CA: the admin for users and tests, and with real nodes
each kubelet (``system:node:<name>``, limited by the Node authorizer),
kube-proxy (``system:kube-proxy``) and CoreDNS (read-only on Services,
EndpointSlices, Pods and Namespaces).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml


def write(path: Path, *, server: str, ca_file: str, token: str, user: str = "admin") -> Path:
    ca = base64.b64encode(Path(ca_file).read_bytes()).decode()
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "tether-local",
                "cluster": {"server": server, "certificate-authority-data": ca},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": "tether-local",
                "context": {"cluster": "tether-local", "user": user, "namespace": "default"},
            }
        ],
        "current-context": "tether-local",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
