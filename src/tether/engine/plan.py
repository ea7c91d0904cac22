"""What a sync will do, in which order, and what it must refuse.

Pure decisions over plain data: which rendered objects go to which
namespace, which live objects are ours to prune (the inventory), the apply
order (Namespaces and CRDs first, so custom resources find their kind), and
the guards that keep a bad render from touching the cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

from tether.engine import adoption, waves
from tether.engine.objects import Obj, ObjectKey, key_of, meta

KIND_ORDER = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
]


class PlanError(ValueError):
    """A render that must not be applied; nothing is applied and nothing is pruned."""


def inventory_id(key: ObjectKey) -> str:
    return f"{key.group}|{key.kind}|{key.namespace}|{key.name}"


def key_from_inventory(entry: str) -> ObjectKey:
    group, kind, namespace, name = entry.split("|", 3)
    return ObjectKey(group, kind, namespace, name)


def apply_order(key: ObjectKey) -> tuple[int, str, str, str]:
    try:
        rank = KIND_ORDER.index(key.kind)
    except ValueError:
        rank = len(KIND_ORDER)
    return (rank, key.kind, key.namespace, key.name)


@dataclass
class Placement:
    objects: list[Obj]
    errors: list[str] = field(default_factory=list)


def place(
    rendered: Iterable[Obj],
    *,
    destination: str,
    namespaced: dict[tuple[str, str], bool],
    app_label: tuple[str, str],
    allow_other_namespaces: bool = False,
) -> list[Obj]:
    """Default namespaces, label ownership, and refuse objects outside the destination.

    ``namespaced`` maps (apiVersion, kind) to whether the cluster serves it
    namespaced; kinds missing from it are treated as namespaced custom
    resources whose CRD is part of this same render or not installed yet.
    """
    out: list[Obj] = []
    errors: list[str] = []
    for original in rendered:
        obj = copy.deepcopy(original)
        meta = obj.setdefault("metadata", {})
        kind_key = (str(obj.get("apiVersion")), str(obj.get("kind")))
        is_namespaced = namespaced.get(kind_key, True)
        if is_namespaced:
            ns = meta.get("namespace") or destination
            if ns != destination and not allow_other_namespaces:
                errors.append(
                    f"{obj.get('kind')}/{meta.get('name')}: namespace {ns!r} is outside the "
                    f"app's destination {destination!r}"
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        meta.setdefault("labels", {})[app_label[0]] = app_label[1]
        out.append(obj)
    if errors:
        raise PlanError("; ".join(errors))
    return out


@dataclass
class SyncPlan:
    apply: list[Obj]
    prune: list[ObjectKey]
    skipped_prune: list[ObjectKey]
    # The uid each prune was judged on: a delete only removes that very object.
    prune_uids: dict[ObjectKey, str] = field(default_factory=dict)


def plan_sync(
    desired: list[Obj],
    *,
    out_of_sync: set[ObjectKey] | None,
    inventory: Iterable[str],
    live: dict[ObjectKey, Obj],
    prune: bool,
    allow_empty: bool,
    app_label: tuple[str, str],
    only: set[ObjectKey] | None = None,
) -> SyncPlan:
    """Order the applies and choose prunes from the inventory.

    ``out_of_sync`` limits applies to those keys (ApplyOutOfSyncOnly); ``only``
    limits the whole sync to selected resources. An object is pruned only if
    it is in this app's inventory, still carries this app's label, and has no
    controlling owner; the plan keeps its uid for the delete's precondition.
    """
    desired_keys = {key_of(o) for o in desired}
    previous = [key_from_inventory(e) for e in inventory]
    if not desired and previous and not allow_empty:
        raise PlanError(
            f"the render produced no objects where {len(previous)} were deployed; refusing to "
            "prune everything (set syncPolicy.automated.allowEmpty or the AllowEmpty=true sync "
            "option if this is intended)"
        )
    apply = [
        o
        for o in desired
        if (out_of_sync is None or key_of(o) in out_of_sync) and (only is None or key_of(o) in only)
    ]
    apply.sort(key=lambda o: apply_order(key_of(o)))
    candidates = [k for k in previous if k not in desired_keys and (only is None or k in only)]
    to_prune: list[ObjectKey] = []
    skipped: list[ObjectKey] = []
    uids: dict[ObjectKey, str] = {}
    for key in candidates:
        obj = live.get(key)
        refusal = adoption.delete_refusal(obj, app_name=app_label[1], instance_label=app_label[0])
        if obj is None or refusal is not None:
            continue
        # Prune=false keeps the object (the app shows it as needing a prune).
        (to_prune if prune and waves.may_prune(obj) else skipped).append(key)
        uids[key] = str(meta(obj).get("uid") or "")
    to_prune.sort(key=apply_order, reverse=True)
    return SyncPlan(
        apply=apply,
        prune=to_prune,
        skipped_prune=skipped,
        prune_uids={k: uids[k] for k in to_prune},
    )


def duplicates(objects: Iterable[Obj]) -> list[ObjectKey]:
    seen: set[ObjectKey] = set()
    dups: list[ObjectKey] = []
    for obj in objects:
        key = key_of(obj)
        if key in seen:
            dups.append(key)
        seen.add(key)
    return dups


def crd_scopes(objects: list[Obj]) -> dict[tuple[str, str], bool]:
    """(apiVersion, kind) -> namespaced, for the CRDs among ``objects``."""
    out: dict[tuple[str, str], bool] = {}
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec") or {}
        for ver in spec.get("versions") or []:
            kind = spec.get("names", {}).get("kind", "")
            ident = (f"{spec.get('group')}/{ver.get('name')}", kind)
            out[ident] = spec.get("scope", "Namespaced") == "Namespaced"
    return out


def select(resources: list[str], desired: list[Obj]) -> set[ObjectKey] | None:
    """The keys named by "Kind/name" or "group/Kind/name" references; None for all."""
    if not resources:
        return None
    wanted = set()
    for ref in resources:
        parts = ref.split("/")
        kind, name = parts[-2], parts[-1]
        for obj in desired:
            key = key_of(obj)
            if key.kind == kind and key.name == name and (len(parts) < 3 or parts[0] == key.group):
                wanted.add(key)
    return wanted
