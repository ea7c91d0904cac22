"""``tether uninstall``: remove what ``tether install`` made in one app namespace.

Removed: the chart's objects (labelled ``tether.dev/install: <namespace>``,
the kinds ``install_prune`` knows), the objects ``tether install`` without
``--controller`` made (found by name, and only when labelled
``app.kubernetes.io/part-of: tether``), the controller's Leases and the
``tether-install`` Secret of values; the CRDs only when asked.

Kept: Applications, ApplicationSets, Projects and the namespace, which hold
what people wrote; a ClusterRole another install's binding still uses
(``tether-controller`` is shared by every install of the cluster); an object
replaced since it was listed (each delete carries its UID as a precondition).

The Deployment goes first and its Pods are awaited (a bounded time), so a
controller still stopping cannot take its Lease again after it is removed.
Like ``tether upgrade``, a Helm release or an install an Application manages
is refused: ``helm uninstall`` or Git own those.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from tether.adapters.kube import ApiError, Conflict, KubeClient, UnknownKind
from tether.controller import leader, sharding
from tether.controller.install import LEASE, RELEASE, VALUES_SECRET, crds, rbac_objects
from tether.controller.install_prune import PRUNABLE_KINDS, selector
from tether.controller.upgrade import check_owner
from tether.engine.objects import Obj

PART_OF = "app.kubernetes.io/part-of"
DEPLOYMENT_WAIT = 60.0  # seconds the controller's Pods may take to stop


@dataclass(frozen=True)
class Target:
    api_version: str
    kind: str
    name: str
    namespace: str  # "" when cluster-scoped
    uid: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass
class Plan:
    namespace: str
    remove: list[Target] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # what looks like the install's but stays

    def add(self, obj: Obj) -> None:
        meta = obj["metadata"]
        target = Target(
            str(obj["apiVersion"]),
            str(obj["kind"]),
            str(meta["name"]),
            str(meta.get("namespace") or ""),
            str(meta.get("uid") or ""),
        )
        if meta.get("deletionTimestamp") is None and target not in self.remove:
            self.remove.append(target)


async def plan(kube: KubeClient, namespace: str, *, with_crds: bool = False) -> Plan:
    """What ``uninstall`` would remove in ``namespace``; raises UpgradeRefused for a
    Helm release or an install an Application manages."""
    await check_owner(kube, namespace, RELEASE, helm_command="uninstall {release}")
    found = Plan(namespace)
    for api_version, kind in PRUNABLE_KINDS:
        try:
            api = await kube.resource_for(api_version, kind)
        except UnknownKind:
            continue
        items, _ = await kube.list(
            api, namespace if api.namespaced else None, label_selector=selector(namespace)
        )
        for item in items:
            found.add(item)
    for obj in rbac_objects(namespace):
        meta = obj["metadata"]
        live = await kube.get_or_none(
            obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace", "")
        )
        if live is not None and _ours(live):
            found.add(live)
    await _leases(kube, found)
    secret = await kube.get_or_none("v1", "Secret", VALUES_SECRET, namespace)
    if secret is not None:
        found.add(secret)
    await _keep_shared_cluster_roles(kube, found)
    if with_crds:
        for crd in crds():
            live = await kube.get_or_none(
                "apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"]
            )
            if live is not None:
                found.add(live)
    return found


async def uninstall(kube: KubeClient, found: Plan, *, wait: float = DEPLOYMENT_WAIT) -> list[str]:
    """Remove what ``found`` lists, the Deployment first; one line per object."""
    done: list[str] = []
    selectors: list[str] = []
    for target in [t for t in found.remove if t.kind == "Deployment"]:
        live = await kube.get_or_none(
            target.api_version, "Deployment", target.name, target.namespace
        )
        labels = ((live or {}).get("spec", {}).get("selector") or {}).get("matchLabels") or {}
        if labels:
            selectors.append(",".join(f"{k}={v}" for k, v in sorted(labels.items())))
        done.append(await _delete(kube, target))
    if selectors and not await _pods_gone(kube, found.namespace, selectors, wait):
        done.append(f"(the controller's Pods were still stopping after {wait:.0f} s)")
    for target in found.remove:
        if target.kind not in ("Deployment", "CustomResourceDefinition"):
            done.append(await _delete(kube, target))
    for target in found.remove:
        if target.kind == "CustomResourceDefinition":
            done.append(await _delete(kube, target))
    return done


def _ours(obj: Obj) -> bool:
    return ((obj["metadata"].get("labels") or {}).get(PART_OF)) == "tether"


async def _leases(kube: KubeClient, found: Plan) -> None:
    """The leader Lease, and one per replica of a sharded controller."""
    leases = await kube.resource_for(leader.API_VERSION, "Lease")
    items, _ = await kube.list(leases, found.namespace)
    for lease in items:
        name = str(lease["metadata"]["name"])
        if name == LEASE or (name.startswith(sharding.LEASE_PREFIX) and _ours(lease)):
            found.add(lease)


async def _keep_shared_cluster_roles(kube: KubeClient, found: Plan) -> None:
    """A ClusterRole a binding of another install (or anyone) still uses stays."""
    leaving = {t.name for t in found.remove if t.kind == "ClusterRoleBinding"}
    bindings = await kube.resource_for("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")
    items, _ = await kube.list(bindings)
    used: dict[str, str] = {}
    for binding in items:
        ref = binding.get("roleRef") or {}
        name = str(binding["metadata"]["name"])
        if ref.get("kind") == "ClusterRole" and name not in leaving:
            used.setdefault(str(ref.get("name")), name)
    for target in list(found.remove):
        if target.kind == "ClusterRole" and target.name in used:
            found.remove.remove(target)
            found.kept.append(f"{target} (bound by ClusterRoleBinding {used[target.name]})")


async def _delete(kube: KubeClient, target: Target) -> str:
    try:
        await kube.delete(
            target.api_version,
            target.kind,
            target.name,
            target.namespace,
            uid=target.uid or None,
        )
    except Conflict:
        return f"{target} (replaced since it was listed: kept)"
    except ApiError as exc:
        return f"{target} (not removed: {exc})"
    return str(target)


async def _pods_gone(kube: KubeClient, namespace: str, selectors: list[str], wait: float) -> bool:
    pods = await kube.resource_for("v1", "Pod")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        remaining = 0
        for label_selector in selectors:
            items, _ = await kube.list(pods, namespace, label_selector=label_selector)
            remaining += len(items)
        if remaining == 0:
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.5)
