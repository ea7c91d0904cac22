"""Carry out a sync plan: apply in order, wait for CRDs, then prune.

Objects are applied with server-side apply under Tether's field manager
(``Replace=true`` uses create/replace instead). Namespaces and CRDs go first
and a CRD must be Established before custom resources of its kind are
applied, so a CRD and its resources can live in one commit. A prune reads the
object again and deletes it only while it still carries the app's label, has
no controlling owner and is the very object (uid) the plan judged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from tether.adapters.kube import ApiError, Conflict, KubeClient, NotFound, UnknownKind
from tether.controller import client_apply
from tether.engine import adoption, sync_options, waves
from tether.engine import diff as diffing
from tether.engine.application import FIELD_MANAGER, INSTANCE_LABEL
from tether.engine.objects import Obj, ObjectKey, conditions, key_of
from tether.engine.plan import SyncPlan

CRD_KIND = ("apiextensions.k8s.io", "CustomResourceDefinition")


class TakeoverRefused(ApiError):
    """An object this sync would apply already exists and is not this app's."""

    def __init__(self, message: str) -> None:
        super().__init__(409, "TakeoverRefused", message)


@dataclass
class SyncOutcome:
    applied: list[ObjectKey] = field(default_factory=list)
    pruned: list[ObjectKey] = field(default_factory=list)
    errors: dict[ObjectKey, ApiError] = field(default_factory=dict)
    results: dict[ObjectKey, Obj] = field(default_factory=dict)
    # Prunes left alone because the object stopped being ours since it was read.
    kept: dict[ObjectKey, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def message(self) -> str:
        if self.ok:
            parts = [f"applied {len(self.applied)}"]
            if self.pruned:
                parts.append(f"pruned {len(self.pruned)}")
            if self.kept:
                parts.append(f"kept {len(self.kept)} ({next(iter(self.kept.values()))})")
            return "sync succeeded: " + ", ".join(parts)
        first = next(iter(self.errors.items()))
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        nothing = "" if self.applied or self.pruned else "; nothing was applied"
        return f"sync failed: {first[0]}: {first[1].message}{more}{nothing}"


async def _wait_established(kube: KubeClient, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            crd = await kube.get_or_none(
                "apiextensions.k8s.io/v1", "CustomResourceDefinition", name
            )
        except ApiError:  # the writer may not read CRDs: its custom resources say the rest
            await kube.discover(refresh=True)
            return
        if crd and conditions(crd).get("Established", {}).get("status") == "True":
            await kube.discover(refresh=True)
            return
        await asyncio.sleep(0.2)


async def _apply_one(
    kube: KubeClient,
    obj: Obj,
    *,
    options: sync_options.ObjectOptions,
    dry_run: bool,
    new_namespaces: set[str],
) -> Obj:
    """Write one object as its sync options say: server-side apply (the default),
    create/replace (``Replace=true``) or a three-way merge patch
    (``ServerSideApply=false``), validated Strict unless ``Validate=false``."""
    validation = options.field_validation
    if options.keep_live:  # RespectIgnoreDifferences: ignored fields keep their live values
        key = key_of(obj)
        live = await kube.get_or_none(str(obj["apiVersion"]), key.kind, key.name, key.namespace)
        obj = diffing.keep_live_fields(obj, live, list(options.keep_live))
    if dry_run and key_of(obj).namespace in new_namespaces:
        try:
            return await kube.apply(
                obj,
                field_manager=FIELD_MANAGER,
                force=True,
                dry_run=True,
                field_validation=validation,
            )
        except UnknownKind:
            raise
        except NotFound:
            return obj  # its namespace does not exist yet: a real sync creates it first
    if options.client_side:
        return await client_apply.apply(kube, obj, dry_run=dry_run, field_validation=validation)
    if not options.replace or dry_run:
        return await kube.apply(
            obj,
            field_manager=FIELD_MANAGER,
            force=True,
            dry_run=dry_run,
            field_validation=validation,
        )
    try:
        return await kube.create(obj, field_manager=FIELD_MANAGER, field_validation=validation)
    except Conflict:
        live = await kube.get(
            str(obj["apiVersion"]),
            str(obj["kind"]),
            obj["metadata"]["name"],
            obj["metadata"].get("namespace", ""),
        )
        obj = dict(
            obj, metadata=dict(obj["metadata"], resourceVersion=live["metadata"]["resourceVersion"])
        )
        return await kube.replace(obj, field_manager=FIELD_MANAGER, field_validation=validation)


async def execute(
    kube: KubeClient,
    plan: SyncPlan,
    *,
    app_name: str,
    options: sync_options.AppOptions | None = None,
    dry_run: bool = False,
    concurrency: int = 8,
    new_namespaces: set[str] | None = None,
) -> SyncOutcome:
    """Apply, wait for CRDs, prune. ``new_namespaces`` are created by this sync
    (CreateNamespace): a dry run treats objects in them as creatable.
    ``app_name`` is whose label a pruned object must still carry; ``options``
    are the app's sync options, resolved per object."""
    outcome = SyncOutcome()
    gate = asyncio.Semaphore(concurrency)

    async def apply(obj: Obj) -> None:
        key = key_of(obj)
        async with gate:
            try:
                outcome.results[key] = await _apply_one(
                    kube,
                    obj,
                    options=(options or sync_options.AppOptions()).for_object(obj),
                    dry_run=dry_run,
                    new_namespaces=new_namespaces or set(),
                )
                outcome.applied.append(key)
            except ApiError as exc:
                outcome.errors[key] = exc

    # Waves: Namespaces, then CRDs (waiting until Established), then the rest.
    namespaces = [o for o in plan.apply if o.get("kind") == "Namespace"]
    crds = [o for o in plan.apply if (key_of(o).group, key_of(o).kind) == CRD_KIND]
    rest = [o for o in plan.apply if o not in namespaces and o not in crds]
    for wave in (namespaces, crds):
        await asyncio.gather(*(apply(o) for o in wave))
    if crds and not dry_run:
        await asyncio.gather(*(_wait_established(kube, o["metadata"]["name"]) for o in crds))
    await asyncio.gather(*(apply(o) for o in rest))
    if outcome.errors:
        return outcome  # never prune after a failed apply
    for key in plan.prune:
        try:
            await _prune_one(kube, key, plan.prune_uids.get(key, ""), app_name, dry_run, outcome)
        except NotFound:
            outcome.pruned.append(key)
        except ApiError as exc:
            outcome.errors[key] = exc
    return outcome


async def _prune_one(
    kube: KubeClient, key: ObjectKey, uid: str, app_name: str, dry_run: bool, outcome: SyncOutcome
) -> None:
    api_version = await _api_version_for(kube, key)
    live = await kube.get_or_none(api_version, key.kind, key.name, key.namespace)
    if live is None:
        outcome.pruned.append(key)
        return
    refusal = adoption.delete_refusal(
        live, app_name=app_name, uid=uid, instance_label=INSTANCE_LABEL
    )
    if refusal is not None:
        outcome.kept[key] = refusal
        return
    try:
        await kube.delete(
            api_version, key.kind, key.name, key.namespace, dry_run=dry_run, uid=uid or None
        )
    except Conflict:  # replaced between the read and the delete: the precondition held
        outcome.kept[key] = (
            f"{adoption.describe(key)} was replaced by another object of the same name; not deleted"
        )
        return
    outcome.pruned.append(key)


async def _api_version_for(kube: KubeClient, key: ObjectKey) -> str:
    for api in await kube.preferred_resources():
        if (api.group, api.kind) == (key.group, key.kind):
            return api.api_version
    raise NotFound(404, "NotFound", f"{key.kind} is no longer served by the cluster")


@dataclass
class Deletion:
    """What deleting an app's objects did: deleted, and kept with the reason."""

    deleted: list[ObjectKey]
    kept: dict[ObjectKey, str]


async def delete_inventory(kube: KubeClient, app_name: str, keys: list[ObjectKey]) -> Deletion:
    """Cascade delete: each object that still carries the app's label, has no
    controlling owner, and is the object just read (uid precondition)."""
    done = Deletion([], {})
    versions = {(api.group, api.kind): api.api_version for api in await kube.preferred_resources()}
    for key in keys:
        api_version = versions.get((key.group, key.kind))
        if api_version is None:
            continue
        live = await kube.get_or_none(api_version, key.kind, key.name, key.namespace)
        if live is None:
            continue
        refusal = adoption.delete_refusal(live, app_name=app_name)
        if refusal is None and not waves.may_delete(live):
            refusal = f"{adoption.describe(key)} says Delete=false; kept"
        if refusal is not None:
            done.kept[key] = refusal
            continue
        try:
            uid = str(live["metadata"].get("uid") or "")
            await kube.delete(api_version, key.kind, key.name, key.namespace, uid=uid or None)
        except Conflict:
            done.kept[key] = (
                f"{adoption.describe(key)} was replaced by another object of the same name; "
                "not deleted"
            )
            continue
        done.deleted.append(key)
    return done
