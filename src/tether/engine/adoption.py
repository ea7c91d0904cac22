"""Whose object is it: adopting, sharing and deleting live objects.

Server-side apply with ``force`` takes every field from whoever owned it, so
applying a rendered object over one that already exists quietly makes it this
app's: relabelled, then pruned or cascade-deleted with the app. An object
belongs to the app whose label ``app.tether.dev/instance`` it carries; one
without that label belongs to nobody we know of (a person, another tool).
Neither is taken over unless someone said so: the app, with the sync option
``AdoptExisting=true`` (objects no app manages), or the object itself, with
the annotation ``tether.dev/adopt: <app>`` on the live object (exactly that
app may adopt it, even from another app). Deleting follows the same rule: an
object is deleted for an app only while it still carries that app's label,
has no controlling owner, and is the very object (uid) that was read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from tether.engine import objects
from tether.engine.application import INSTANCE_LABEL
from tether.engine.objects import Obj, ObjectKey, controller_owner, key_of, labels, meta

ADOPT_ANNOTATION = "tether.dev/adopt"

NEW = "new"  # does not exist yet
OURS = "ours"  # carries this app's label (or is in its inventory, unlabelled)
ADOPT = "adopt"  # someone allowed this app to take it over
UNMANAGED = "unmanaged"  # exists, no app label: refused
SHARED = "shared"  # another app's label: refused, the other app keeps it


@dataclass(frozen=True)
class Claim:
    """What this app may do with one rendered object that may already exist."""

    key: ObjectKey
    verdict: str
    owner: str = ""  # the app (SHARED) or controller (UNMANAGED) it belongs to
    message: str = ""

    @property
    def refused(self) -> bool:
        return self.verdict in (UNMANAGED, SHARED)


def describe(key: ObjectKey) -> str:
    """``Deployment finance/api``, or ``Namespace finance`` when cluster-scoped."""
    where = f"{key.namespace}/{key.name}" if key.namespace else key.name
    return f"{key.kind} {where}"


def claim(
    key: ObjectKey,
    live: Obj | None,
    *,
    app_name: str,
    in_inventory: bool = False,
    adopt_existing: bool = False,
    instance_label: str = INSTANCE_LABEL,
) -> Claim:
    """Judge one rendered object against its live counterpart (None: absent)."""
    if live is None:
        return Claim(key, NEW)
    owner_app = labels(live).get(instance_label, "")
    consent = objects.annotations(live).get(ADOPT_ANNOTATION) == app_name
    hint = f"annotate the live object {ADOPT_ANNOTATION}={app_name} to hand it over"
    if owner_app == app_name:
        return Claim(key, OURS, app_name)
    if owner_app:
        if consent:
            return Claim(key, ADOPT, owner_app, f"{describe(key)} handed over by app {owner_app!r}")
        return Claim(
            key,
            SHARED,
            owner_app,
            f"{describe(key)} belongs to app {owner_app!r}; not applied ({hint})",
        )
    controller = controller_owner(live)
    if consent:
        return Claim(key, ADOPT, "", f"{describe(key)} adopted (annotated {ADOPT_ANNOTATION})")
    if controller is not None:
        by = f"{controller.get('kind')} {controller.get('name')}"
        return Claim(
            key,
            UNMANAGED,
            by,
            f"{describe(key)} exists, is controlled by {by} and is not managed by any app; "
            f"refusing to take it over ({hint})",
        )
    if in_inventory:
        return Claim(key, OURS, app_name)
    if adopt_existing:
        return Claim(key, ADOPT, "", f"{describe(key)} adopted (AdoptExisting=true)")
    return Claim(
        key,
        UNMANAGED,
        "",
        f"{describe(key)} exists and is not managed by any app; refusing to take it over "
        f"(allow it with the sync option AdoptExisting=true, or {hint})",
    )


def judge(
    desired: Iterable[Obj],
    live: Mapping[ObjectKey, Obj | None],
    *,
    app_name: str,
    inventory: Collection[ObjectKey] = (),
    adopt_existing: bool = False,
    instance_label: str = INSTANCE_LABEL,
) -> list[Claim]:
    """A claim per rendered object; ``live`` maps keys to live objects (missing: absent)."""
    out = []
    for obj in desired:
        key = key_of(obj)
        out.append(
            claim(
                key,
                live.get(key),
                app_name=app_name,
                in_inventory=key in inventory,
                adopt_existing=adopt_existing,
                instance_label=instance_label,
            )
        )
    return out


def shared_message(claims: Iterable[Claim]) -> str | None:
    """The ``SharedResource`` condition's message, or None when nothing is shared."""
    shared = [c.message for c in claims if c.verdict == SHARED]
    return "; ".join(sorted(shared)) or None


def delete_refusal(
    live: Obj | None,
    *,
    app_name: str,
    uid: str = "",
    instance_label: str = INSTANCE_LABEL,
) -> str | None:
    """None when ``live`` may be deleted for ``app_name`` (prune, cascade), else why not.

    ``uid`` is the object as it was read: another object of the same name is
    not the one this app deployed.
    """
    if live is None:
        return "it no longer exists"
    what = describe(key_of(live))
    if uid and meta(live).get("uid") != uid:
        return f"{what} was replaced by another object of the same name; not deleted"
    owner_app = labels(live).get(instance_label, "")
    if owner_app and owner_app != app_name:
        return f"{what} belongs to app {owner_app!r}; not deleted"
    if not owner_app:
        return (
            f"{what} no longer carries the label {instance_label}={app_name} "
            "and is not managed by any app; not deleted"
        )
    controller = controller_owner(live)
    if controller is not None:
        return (
            f"{what} is controlled by {controller.get('kind')} {controller.get('name')}; "
            "not deleted"
        )
    return None


def delete_resource_refusal(
    target: Obj, root: Obj | None, *, app_name: str, instance_label: str = INSTANCE_LABEL
) -> str | None:
    """For deleting one object of an app by hand: ``target`` must carry the app's
    label itself, or hang (through ownerReferences) below ``root``, an object that
    carries it. None when allowed, else why not."""
    anchor = root if root is not None else target
    owner_app = labels(anchor).get(instance_label, "")
    what = describe(key_of(target))
    below = "" if anchor is target else f" (under {describe(key_of(anchor))})"
    if owner_app == app_name:
        return None
    if owner_app:
        return f"{what}{below} belongs to app {owner_app!r}, not {app_name!r}; not deleted"
    return f"{what}{below} is not managed by any app; not deleted"
