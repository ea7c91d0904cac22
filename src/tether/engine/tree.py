"""The resource tree of an application: what Git declares and what it spawned.

Git lists a Deployment; the cluster holds that Deployment, its ReplicaSets,
their Pods. People debug at the bottom of that graph, so the tree follows
ownerReferences from every managed object down, marks the rollout history
Kubernetes keeps for rollback, and points out objects in the destination
namespace that nothing owns (orphans: a warning, never an action).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.engine import hooks
from tether.engine.health import HealthResult, HealthRules, HealthStatus, aggregate, assess
from tether.engine.objects import (
    Obj,
    ObjectKey,
    annotations,
    key_of,
    labels,
    owner_references,
    uid_of,
)

INSTANCE_LABEL = "app.tether.dev/instance"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
HISTORY_NOTE = "rollout history, kept for rollback"

MANAGED = "managed"
HOOK = "hook"  # a sync hook this app ran (not desired state: no part in the app's health)
CHILD = "child"
HISTORY = "history"
ORPHAN = "orphan"


@dataclass(frozen=True)
class TreeNode:
    """One object in the tree. ``id`` is the uid, or ``missing:<key>`` when not in the cluster."""

    id: str
    key: ObjectKey
    uid: str
    role: str
    health: HealthResult
    revision: str = ""
    owner: str = ""
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.uid,
            "group": self.key.group,
            "kind": self.key.kind,
            "namespace": self.key.namespace,
            "name": self.key.name,
            "role": self.role,
            "health": self.health.to_json(),
            "revision": self.revision,
            "owner": self.owner,
            "note": self.note,
        }


@dataclass
class ResourceTree:
    nodes: list[TreeNode] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    objects: dict[str, Obj] = field(default_factory=dict)

    def node(self, node_id: str) -> TreeNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def find(self, kind: str, name: str) -> TreeNode | None:
        return next((n for n in self.nodes if (n.key.kind, n.key.name) == (kind, name)), None)

    def children(self, node_id: str) -> list[TreeNode]:
        ids = [child for parent, child in self.edges if parent == node_id]
        return [n for n in self.nodes if n.id in ids]

    def descendants(self, node_id: str) -> list[TreeNode]:
        out: list[TreeNode] = []
        for child in self.children(node_id):
            out.append(child)
            out.extend(self.descendants(child.id))
        return out

    def by_role(self, role: str) -> list[TreeNode]:
        return [n for n in self.nodes if n.role == role]

    def health(self) -> tuple[HealthStatus, str]:
        """The application's health: the worst managed object."""
        return aggregate((n.key, n.health) for n in self.by_role(MANAGED))

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": [n.to_json() for n in self.nodes],
            "edges": [{"from": parent, "to": child} for parent, child in self.edges],
        }


def revision_of(obj: Obj) -> str:
    return annotations(obj).get(REVISION_ANNOTATION, "")


def owned_by(live: Sequence[Obj]) -> dict[str, list[str]]:
    """Parent uid -> child uids, from ownerReferences and the Service naming conventions."""
    uids = {uid_of(o) for o in live if uid_of(o)}
    services = {
        (key_of(o).namespace, key_of(o).name): uid_of(o) for o in live if o.get("kind") == "Service"
    }
    index: dict[str, list[str]] = {}
    for obj in live:
        uid = uid_of(obj)
        parents = [str(r.get("uid")) for r in owner_references(obj) if r.get("uid") in uids]
        key = key_of(obj)
        if not parents and obj.get("kind") == "EndpointSlice":
            svc = services.get((key.namespace, labels(obj).get(SERVICE_NAME_LABEL, "")))
            parents = [svc] if svc else []
        if not parents and obj.get("kind") == "Endpoints":
            svc = services.get((key.namespace, key.name))
            parents = [svc] if svc else []
        for parent in parents:
            if uid and parent != uid:
                index.setdefault(parent, []).append(uid)
    return index


def current_replicaset(deployment: Obj, replicasets: Sequence[Obj]) -> Obj | None:
    """The ReplicaSet at the Deployment's revision, else the one with the highest revision."""
    wanted = revision_of(deployment)
    for rs in replicasets:
        if wanted and revision_of(rs) == wanted:
            return rs

    def rank(rs: Obj) -> int:
        value = revision_of(rs)
        return int(value) if value.isdecimal() else -1

    return max(replicasets, key=rank, default=None)


def is_orphan_candidate(obj: Obj, app_name: str, instance_label: str) -> bool:
    kind = obj.get("kind")
    name = key_of(obj).name
    if owner_references(obj) or kind == "Event":
        return False
    if (kind, name) in {("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")}:
        return False
    if kind == "Secret" and obj.get("type") == "kubernetes.io/service-account-token":
        return False
    other_app = labels(obj).get(instance_label)
    return not (other_app and other_app != app_name)


def find_live(key: ObjectKey, live_by_key: dict[ObjectKey, Obj], namespace: str) -> Obj | None:
    found = live_by_key.get(key)
    if found is None and not key.namespace and namespace:
        found = live_by_key.get(ObjectKey(key.group, key.kind, namespace, key.name))
    return found


def build_tree(
    managed: Iterable[Obj],
    live: Iterable[Obj],
    *,
    app_name: str = "",
    namespace: str = "",
    events: Sequence[Obj] = (),
    rules: HealthRules | None = None,
    instance_label: str = INSTANCE_LABEL,
) -> ResourceTree:
    """Builds the tree of ``managed`` (desired objects from Git) within ``live`` (all in scope).

    ``namespace`` is the destination namespace: it fills in a missing
    namespace on Git objects and bounds the orphan search (empty: no orphans).
    """
    live_list = [o for o in live if o.get("kind") != "Event"]
    by_uid = {uid_of(o): o for o in live_list if uid_of(o)}
    by_key = {key_of(o): o for o in live_list}
    index = owned_by(live_list)
    tree = ResourceTree()
    roles: dict[str, tuple[ObjectKey, str, str]] = {}

    def descend(parent: str) -> None:
        for child in index.get(parent, []):
            tree.edges.append((parent, child))
            if child not in roles:
                roles[child] = (key_of(by_uid[child]), CHILD, parent)
                descend(child)

    for desired in managed:
        key = key_of(desired)
        obj = find_live(key, by_key, namespace)
        if obj is None:
            if not key.namespace and namespace:
                key = ObjectKey(key.group, key.kind, namespace, key.name)
            roles.setdefault(f"missing:{key}", (key, MANAGED, ""))
            continue
        roles[uid_of(obj)] = (key_of(obj), MANAGED, "")
        tree.objects[uid_of(obj)] = obj
    for obj in live_list:
        uid = uid_of(obj)
        if (
            app_name
            and uid not in roles
            and labels(obj).get(instance_label) == app_name
            and hooks.marked(obj)
        ):
            roles[uid] = (key_of(obj), HOOK, "")
    for node_id in [i for i, (_k, role, _p) in roles.items() if role in (MANAGED, HOOK)]:
        descend(node_id)
    if namespace:
        for obj in sorted(live_list, key=key_of):
            uid = uid_of(obj)
            if key_of(obj).namespace != namespace or uid in roles:
                continue
            if is_orphan_candidate(obj, app_name, instance_label):
                roles[uid] = (key_of(obj), ORPHAN, "")

    history = history_ids(roles, by_uid, index)
    for node_id, (key, role, parent) in roles.items():
        obj = by_uid.get(node_id)
        if obj is not None:
            tree.objects[node_id] = obj
        kin = [by_uid[n] for n in all_below(node_id, index)]
        tree.nodes.append(
            TreeNode(
                id=node_id,
                key=key,
                uid=node_id if obj is not None else "",
                role=HISTORY if node_id in history else role,
                health=assess(obj, kin, events, rules),
                revision=revision_of(obj) if obj is not None else "",
                owner=parent,
                note=note_for(obj, role, node_id in history, app_name, instance_label),
            )
        )
    return tree


def all_below(node_id: str, index: dict[str, list[str]]) -> list[str]:
    seen: list[str] = []
    stack = list(index.get(node_id, []))
    while stack:
        uid = stack.pop()
        if uid not in seen:
            seen.append(uid)
            stack.extend(index.get(uid, []))
    return seen


def history_ids(
    roles: dict[str, tuple[ObjectKey, str, str]],
    by_uid: dict[str, Obj],
    index: dict[str, list[str]],
) -> set[str]:
    old: set[str] = set()
    for node_id in roles:
        deployment = by_uid.get(node_id)
        if deployment is None or deployment.get("kind") != "Deployment":
            continue
        replicasets = [
            by_uid[c] for c in index.get(node_id, []) if by_uid[c].get("kind") == "ReplicaSet"
        ]
        current = current_replicaset(deployment, replicasets)
        old.update(uid_of(rs) for rs in replicasets if rs is not current)
    return old


def note_for(obj: Obj | None, role: str, old: bool, app_name: str, instance_label: str) -> str:
    if old:
        return HISTORY_NOTE
    if role == HOOK and obj is not None:
        return f"{hooks.marked(obj)} hook"
    if role == ORPHAN and obj is not None:
        if app_name and labels(obj).get(instance_label) == app_name:
            return "labelled for this app but no longer in Git; a sync with prune deletes it"
        return "in the destination namespace but owned by no app"
    return ""
