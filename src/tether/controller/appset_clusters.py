"""The clusters an ApplicationSet's ``clusters`` generator iterates over.

They are the registered clusters (Secrets in the app namespace labelled
``argocd.argoproj.io/secret-type: cluster``, as ``tether clusters add`` and
Argo CD write them), with the Secret's labels and annotations as
``metadata.labels`` / ``metadata.annotations``, plus the cluster Tether runs
in as ``in-cluster``, as Argo CD does: that one has no labels unless a
Secret for ``https://kubernetes.default.svc`` gives it a name and labels, so
a generator with a selector matches it only then.

Secrets are listed only for sets that use the generator (directly or inside
a matrix or merge), once per pass. A Secret that cannot be read is skipped
(and logged), never an error of every set: the cluster registration reports
it where it belongs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from tether.adapters.kube import KubeClient
from tether.engine import clusters as registry
from tether.engine.appsets import generators as gens
from tether.engine.appsets import spec as model
from tether.engine.objects import Obj

log = logging.getLogger(__name__)


def uses_clusters(generators: Iterable[model.Generator]) -> bool:
    """Whether any generator, nested ones included, is a ``clusters`` generator."""
    for gen in generators:
        if gen.clusters is not None:
            return True
        nested = gen.matrix or gen.merge
        if nested is not None and uses_clusters(nested.generators):
            return True
    return False


def from_secrets(secrets: Iterable[Obj]) -> list[gens.Cluster]:
    """The generator's clusters, in-cluster first, then by name."""
    home = gens.IN_CLUSTER
    others: list[gens.Cluster] = []
    for secret in secrets:
        if not registry.is_cluster_secret(secret):
            continue
        try:
            cluster = registry.from_secret(secret)
        except registry.ClusterSecretError as exc:
            log.warning("clusters generator skips a cluster: %s", exc)
            continue
        meta = secret.get("metadata") or {}
        entry = gens.Cluster(
            name=cluster.name,
            server=cluster.server,
            labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
            annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
        )
        if cluster.in_cluster:
            if cluster.name == cluster.server:  # a Secret that names no cluster name
                entry = gens.Cluster(home.name, home.server, entry.labels, entry.annotations)
            home = entry
        else:
            others.append(entry)
    return [home, *sorted(others, key=lambda c: (c.name, c.server))]


async def registered(kube: KubeClient, namespace: str) -> list[gens.Cluster]:
    api = await kube.resource_for("v1", "Secret")
    items, _ = await kube.list(
        api, namespace, label_selector=f"{registry.SECRET_TYPE_LABEL}={registry.SECRET_TYPE}"
    )
    return from_secrets(items)
