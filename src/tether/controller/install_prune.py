"""Prune what an in-cluster install no longer renders.

``tether install --controller`` and ``tether upgrade`` apply the chart by
server-side apply, which never deletes: a value turned off (the
PodDisruptionBudget, the ServiceMonitor, ``rbac.create``) would leave its
object behind. Every object the chart renders carries the label
``tether.dev/install: <namespace>``; after an apply, objects of the kinds
the chart can render that carry this label (and ``app.kubernetes.io/part-of:
tether``) but were not rendered this time are deleted.

What is never deleted:

- an object without the label (created by hand, by ``tether install``
  without ``--controller``, or by another install namespace);
- a Project (it holds policy people edit; the chart's default Project is
  left to ``tether install`` anyway), CRDs and Namespaces (kinds not listed);
- an object replaced since it was listed: the delete carries its UID as a
  precondition, so a new object of the same name gets 409 and is kept.
"""

from __future__ import annotations

from tether.adapters.kube import ApiError, Conflict, KubeClient, UnknownKind
from tether.engine.objects import Obj, group_of

INSTALL_LABEL = "tether.dev/install"
PART_OF = "app.kubernetes.io/part-of=tether"

# Every kind the chart can render, except the Project (see above). A test renders
# the chart with every value turned on and checks the list covers it.
PRUNABLE_KINDS: tuple[tuple[str, str], ...] = (
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("policy/v1", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
)
NEVER_PRUNED_KINDS = frozenset({"Project"})


def selector(namespace: str) -> str:
    return f"{INSTALL_LABEL}={namespace},{PART_OF}"


def _key(obj: Obj, default_namespace: str, namespaced: bool) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    ns = (meta.get("namespace") or default_namespace) if namespaced else ""
    return (group_of(str(obj.get("apiVersion", ""))), str(obj["kind"]), ns, str(meta["name"]))


async def prune_install(kube: KubeClient, namespace: str, rendered: list[Obj]) -> list[str]:
    """Delete the install's labelled objects that ``rendered`` no longer holds;
    one line per object deleted (or kept because it was replaced meanwhile)."""
    done: list[str] = []
    for api_version, kind in PRUNABLE_KINDS:
        try:
            api = await kube.resource_for(api_version, kind)
        except UnknownKind:
            continue  # e.g. no ServiceMonitor CRD: nothing of that kind can exist
        keep = {
            _key(obj, namespace, api.namespaced)
            for obj in rendered
            if obj.get("kind") == kind and group_of(str(obj.get("apiVersion", ""))) == api.group
        }
        items, _ = await kube.list(
            api, namespace if api.namespaced else None, label_selector=selector(namespace)
        )
        for item in items:
            meta = item["metadata"]
            if meta.get("deletionTimestamp") or _key(item, "", api.namespaced) in keep:
                continue
            where = f"{kind} {meta['name']}"
            try:
                await kube.delete(
                    api.api_version,
                    kind,
                    meta["name"],
                    meta.get("namespace", ""),
                    uid=meta.get("uid"),
                )
            except Conflict:
                done.append(f"{where} (replaced since it was listed: kept)")
                continue
            except ApiError as exc:
                done.append(f"{where} (not pruned: {exc})")
                continue
            done.append(where)
    return done
