"""Running hooks: create them (never apply), read their outcome, honour delete policies.

A hook is created anew for each sync: a named one after its predecessor is
deleted (BeforeHookCreation, the default), or once only when its policy says
otherwise (Argo CD's rule for named hooks); one with ``generateName`` gets a
fresh name from the API server. Every hook carries the operation's id as a
label, so a controller that restarts half-way finds the hooks it already
created instead of creating them twice.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

from tether.adapters.kube import ApiError, Conflict, KubeClient
from tether.controller.live_cache import LiveCache
from tether.controller.passes import Pass, Stop
from tether.engine import health, objects, waves
from tether.engine import hooks as hookmodel
from tether.engine.application import INSTANCE_LABEL
from tether.engine.health import HealthRules
from tether.engine.objects import Obj, ObjectKey, key_of, labels, meta, uid_of

log = logging.getLogger(__name__)

OPERATION_LABEL = "tether.dev/sync-operation"
SOURCE_ANNOTATION = "tether.dev/hook-source"
PENDING = "Pending"


@dataclass
class HookRun:
    """One hook of an operation: what the render called it and what runs in the cluster."""

    source: str
    hook_type: str
    phase: str  # Pending, Running, Succeeded, Failed
    key: ObjectKey | None = None
    message: str = ""
    seen: bool = False  # seen in the cluster since it was created


def split(p: Pass) -> None:
    """Take the hooks (and Skip objects) out of the pass's desired objects, and check
    every wave and hook annotation, before anything is compared or applied."""
    try:
        parts = hookmodel.split(p.desired)
        for obj in parts.resources + parts.hooks:
            waves.wave_of(obj)
    except (hookmodel.HookError, waves.WaveError) as exc:
        raise Stop("ComparisonError", str(exc)) from None
    p.desired = parts.resources
    p.hooks = parts.hooks


def _mine(obj: Obj, op_id: str, source: str) -> bool:
    return (
        labels(obj).get(OPERATION_LABEL) == op_id
        and objects.annotations(obj).get(SOURCE_ANNOTATION) == source
    )


def find(live: LiveCache, hook: Obj, op_id: str) -> Obj | None:
    """The object this operation already created for ``hook``, from the live cache."""
    source = hookmodel.source_name(hook)
    key = key_of(hook)
    for obj in live.in_namespace(key.namespace) if key.namespace else []:
        if obj.get("kind") == key.kind and _mine(obj, op_id, source):
            return obj
    if key.name:
        found = live.get(key)
        if found is not None and _mine(found, op_id, source):
            return found
    return None


async def start(
    kube: KubeClient, live: LiveCache, hook: Obj, *, op_id: str, hook_type: str
) -> HookRun:
    """Create ``hook`` for operation ``op_id`` (or find the one already created)."""
    source = hookmodel.source_name(hook)
    existing = find(live, hook, op_id)
    if existing is not None:
        return HookRun(source, hook_type, hookmodel.RUNNING, key_of(existing))
    obj = copy.deepcopy(hook)
    m = obj.setdefault("metadata", {})
    m.setdefault("labels", {})[OPERATION_LABEL] = op_id
    m.setdefault("annotations", {})[SOURCE_ANNOTATION] = source
    if m.get("name"):
        m.pop("generateName", None)
        key = key_of(obj)
        current = await kube.get_or_none(str(obj["apiVersion"]), key.kind, key.name, key.namespace)
        if current is not None and _mine(current, op_id, source):
            return HookRun(source, hook_type, hookmodel.RUNNING, key)
        owner = labels(obj).get(INSTANCE_LABEL)
        if current is not None and labels(current).get(INSTANCE_LABEL) != owner:
            # Never delete (or take) what is not this app's: the hook fails instead.
            return HookRun(
                source,
                hook_type,
                hookmodel.FAILED,
                message=f"{key.kind} {key.name} exists and is not this app's; not replaced",
            )
        if current is not None:
            if hookmodel.BEFORE_HOOK_CREATION not in hookmodel.delete_policies(hook):
                # Argo CD creates a named hook once; its outcome is the one there.
                return HookRun(source, hook_type, hookmodel.RUNNING, key)
            await kube.delete(
                str(obj["apiVersion"]),
                key.kind,
                key.name,
                key.namespace,
                propagation="Background",
                uid=uid_of(current) or None,
            )
    try:
        created = await kube.create(obj)
    except Conflict:
        # The previous one is still being deleted: the next pass creates it.
        return HookRun(source, hook_type, PENDING, message="waiting for the previous hook to go")
    key = key_of(created)
    log.info("created %s hook %s", hook_type, key)
    return HookRun(source, hook_type, hookmodel.RUNNING, key)


def assess(live: LiveCache, run: HookRun, rules: HealthRules | None) -> tuple[str, str, Obj | None]:
    """(outcome, message, live object) of a started hook."""
    if run.key is None:
        return PENDING, run.message, None
    obj = live.get(run.key)
    if obj is None and run.seen:
        # Deleted by someone while it ran: nothing will finish it (Argo CD fails it too).
        return hookmodel.FAILED, f"{run.key.kind} {run.key.name} was deleted while it ran", None
    if obj is None:
        return hookmodel.RUNNING, "created; waiting to see it", None
    result = health.assess(obj, (), (), rules)
    outcome = hookmodel.outcome(result)
    if outcome == hookmodel.FAILED:
        pods = [
            p
            for p in live.in_namespace(run.key.namespace)
            if p.get("kind") == "Pod"
            and any(r.get("uid") == uid_of(obj) for r in meta(p).get("ownerReferences") or [])
        ]
        return outcome, hookmodel.failure_detail(obj, pods), obj
    return outcome, result.message, obj


async def apply_delete_policy(kube: KubeClient, obj: Obj, hook: Obj, outcome: str) -> None:
    """Delete a finished hook its policy says to delete (HookSucceeded / HookFailed)."""
    if not hookmodel.deleted_after(hook, outcome):
        return
    key = key_of(obj)
    try:
        await kube.delete(
            str(obj["apiVersion"]),
            key.kind,
            key.name,
            key.namespace,
            propagation="Background",
            uid=uid_of(obj) or None,
        )
    except ApiError as exc:
        log.warning("could not delete hook %s: %s", key, exc)
