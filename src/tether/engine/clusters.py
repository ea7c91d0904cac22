"""Registered clusters: Argo CD's cluster Secret format, read and written.

A cluster is a Secret in the app namespace labelled
``argocd.argoproj.io/secret-type: cluster`` whose data holds ``name``,
``server`` and ``config`` (JSON: ``bearerToken``, ``tlsClientConfig``
{``caData``, ``certData``, ``keyData``, ``serverName``, ``insecure``},
``execProviderConfig``, ``proxyUrl``), optionally ``namespaces`` (a
comma-separated list the cluster is limited to) and ``project``. Secrets
written by Argo CD's ``argocd cluster add`` are read as they are.

The cluster Tether runs in needs no Secret: it is ``https://kubernetes.default.svc``
by server and ``in-cluster`` by name. A Secret for that server (as Argo CD
allows, to rename it or limit its namespaces) is honoured for its name only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from tether.engine import application
from tether.engine.objects import Obj

IN_CLUSTER = application.IN_CLUSTER
SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
SECRET_TYPE = "cluster"
IN_CLUSTER_NAME = "in-cluster"
SECRET_PREFIX = "cluster-"


class ClusterSecretError(ValueError):
    """A cluster Secret that cannot be used; the message names the Secret and field."""


@dataclass(frozen=True)
class Cluster:
    name: str
    server: str
    config: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    namespaces: tuple[str, ...] = ()
    project: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    secret: str = ""  # the Secret it was read from

    @property
    def in_cluster(self) -> bool:
        return self.server == IN_CLUSTER

    def fingerprint(self) -> str:
        """Changes whenever the connection settings change (a client is rebuilt)."""
        return json.dumps([self.server, self.config], sort_keys=True)


IN_CLUSTER_ENTRY = Cluster(name=IN_CLUSTER_NAME, server=IN_CLUSTER)


def _field(secret: Obj, key: str) -> str | None:
    string_data = secret.get("stringData") or {}
    if key in string_data:
        return str(string_data[key])
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        return None
    try:
        return base64.b64decode(str(raw), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        name = (secret.get("metadata") or {}).get("name", "")
        raise ClusterSecretError(f"cluster Secret {name}: {key} is not base64 text") from None


def is_cluster_secret(secret: Obj) -> bool:
    labels = (secret.get("metadata") or {}).get("labels") or {}
    return labels.get(SECRET_TYPE_LABEL) == SECRET_TYPE


def from_secret(secret: Obj) -> Cluster:
    meta = secret.get("metadata") or {}
    secret_name = str(meta.get("name", ""))
    server = (_field(secret, "server") or "").strip().rstrip("/")
    if not server:
        raise ClusterSecretError(f"cluster Secret {secret_name}: no server")
    raw_config = _field(secret, "config") or "{}"
    try:
        config = json.loads(raw_config)
    except ValueError:
        raise ClusterSecretError(f"cluster Secret {secret_name}: config is not JSON") from None
    if not isinstance(config, dict):
        raise ClusterSecretError(f"cluster Secret {secret_name}: config is not a JSON object")
    namespaces = tuple(
        n.strip() for n in (_field(secret, "namespaces") or "").split(",") if n.strip()
    )
    labels = tuple(sorted((str(k), str(v)) for k, v in (meta.get("labels") or {}).items()))
    return Cluster(
        name=(_field(secret, "name") or "").strip() or server,
        server=server,
        config=config,
        namespaces=namespaces,
        project=(_field(secret, "project") or "").strip(),
        labels=labels,
        secret=secret_name,
    )


def secret_name_for(name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:50] or "cluster"
    return f"{SECRET_PREFIX}{slug}"


def to_secret(cluster: Cluster, namespace: str) -> Obj:
    """The Secret that registers ``cluster`` (Argo CD reads it too)."""
    data = {"name": cluster.name, "server": cluster.server, "config": json.dumps(cluster.config)}
    if cluster.namespaces:
        data["namespaces"] = ",".join(cluster.namespaces)
    if cluster.project:
        data["project"] = cluster.project
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": cluster.secret or secret_name_for(cluster.name),
            "namespace": namespace,
            "labels": {SECRET_TYPE_LABEL: SECRET_TYPE, **dict(cluster.labels)},
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


class UnknownCluster(LookupError):
    """A destination that names no registered cluster."""


def for_destination(server: str, name: str, clusters: list[Cluster]) -> Cluster:
    """The cluster an Application's destination picks (by server, else by name).

    The in-cluster entry is always there; a Secret for its server may rename it.
    """
    server = server.rstrip("/")
    in_cluster_name = next(
        (c.name for c in clusters if c.in_cluster and c.name != c.server), IN_CLUSTER_NAME
    )
    if server:
        if server == IN_CLUSTER:
            return Cluster(name=in_cluster_name, server=IN_CLUSTER)
        found = next((c for c in clusters if c.server == server), None)
        if found is None:
            raise UnknownCluster(f"no cluster is registered for server {server}")
        return found
    if not name or name == in_cluster_name:
        return Cluster(name=in_cluster_name, server=IN_CLUSTER)
    found = next((c for c in clusters if c.name == name and not c.in_cluster), None)
    if found is None:
        raise UnknownCluster(f"no cluster is registered with name {name}")
    return found
