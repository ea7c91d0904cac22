"""Refusing deletes that cannot do what the person expects.

Deleting an object a controller owns only makes the controller recreate it
(or throws away the rollout history kept for rollback); deleting an object
Git manages while auto-sync is on is undone at the next sync. In both cases
the honest answer is "no, and here is what to do instead".
"""

from collections.abc import Callable, Collection
from dataclasses import dataclass

from tether.engine.objects import (
    Obj,
    ObjectKey,
    annotations,
    controller_owner,
    group_of,
    key_of,
)

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"

OwnerLookup = Callable[[ObjectKey], Obj | None]


@dataclass(frozen=True)
class Refusal:
    """Why a delete is refused. ``code`` is ``owned-by-controller`` or ``managed-by-git``."""

    key: ObjectKey
    code: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"object": str(self.key), "code": self.code, "reason": self.reason}


def owner_key(obj: Obj, ref: dict[str, object]) -> ObjectKey:
    return ObjectKey(
        group=group_of(str(ref.get("apiVersion", ""))),
        kind=str(ref.get("kind", "")),
        namespace=key_of(obj).namespace,
        name=str(ref.get("name", "")),
    )


def lookup(owner_lookup: OwnerLookup, key: ObjectKey) -> Obj | None:
    found = owner_lookup(key)
    if found is None and key.namespace:
        found = owner_lookup(ObjectKey(key.group, key.kind, "", key.name))
    return found


def describe_owner(target: Obj, owner_lookup: OwnerLookup) -> str | None:
    """The refusal sentence for a controller-owned object, or None when it has no controller."""
    ref = controller_owner(target)
    if ref is None:
        return None
    me = key_of(target)
    parent = owner_key(target, ref)
    parent_obj = lookup(owner_lookup, parent)
    grand_ref = controller_owner(parent_obj) if parent_obj is not None else None
    chain = top = f"{parent.kind} {parent.name}"
    if grand_ref is not None:
        top = f"{grand_ref.get('kind')} {grand_ref.get('name')}"
        chain += f" of {top}"
    if me.kind == "ReplicaSet" and parent.kind == "Deployment" and parent_obj is not None:
        mine = annotations(target).get(REVISION_ANNOTATION, "")
        current = annotations(parent_obj).get(REVISION_ANNOTATION, "")
        if mine and mine != current:
            return (
                f"ReplicaSet {me.name} is owned by Deployment {parent.name} and kept as "
                f"revision {mine} for rollback; roll back with `tether app rollback`"
            )
    return f"{me.kind} {me.name} is owned by {chain}; it would be recreated. change {top} instead"


def check_delete(
    target_obj: Obj,
    managed_keys: Collection[ObjectKey],
    auto_sync: bool,
    owner_lookup: OwnerLookup,
) -> Refusal | None:
    """None when deleting ``target_obj`` is sensible, else the Refusal saying why not.

    ``owner_lookup`` finds a live object by key (for the owner chain and the
    Deployment's current revision); it may return None when it does not know.
    """
    key = key_of(target_obj)
    owned = describe_owner(target_obj, owner_lookup)
    if owned is not None:
        return Refusal(key, "owned-by-controller", owned)
    unscoped = ObjectKey(key.group, key.kind, "", key.name)
    if auto_sync and (key in managed_keys or unscoped in managed_keys):
        return Refusal(
            key,
            "managed-by-git",
            f"{key.kind} {key.name} is managed from Git and auto-sync is on: it would come back "
            "at the next sync; remove it from Git instead",
        )
    return None
