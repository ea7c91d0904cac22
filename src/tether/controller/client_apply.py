"""Write one object the client-side way (``ServerSideApply=false``).

Create it when absent, else send the three-way merge patch of
``engine.last_applied`` under Tether's field manager (an ``Update`` entry in
managedFields rather than ``Apply``). The live object is read from the API
server, not the live cache, because the cache drops the last-applied
annotation the patch is computed from. With ``dry_run`` the same requests are
made with ``dryRun=All``, so a comparison predicts exactly what a sync writes.
"""

from __future__ import annotations

from tether.adapters.kube import KubeClient
from tether.engine import last_applied
from tether.engine.application import FIELD_MANAGER
from tether.engine.objects import Obj, key_of


async def apply(
    kube: KubeClient, obj: Obj, *, dry_run: bool = False, field_validation: str | None = None
) -> Obj:
    key = key_of(obj)
    desired = last_applied.with_last_applied(obj)
    live = await kube.get_or_none(str(obj["apiVersion"]), key.kind, key.name, key.namespace)
    if live is None:
        return await kube.create(
            desired,
            dry_run=dry_run,
            field_manager=FIELD_MANAGER,
            field_validation=field_validation,
        )
    patch = last_applied.three_way_patch(last_applied.last_applied(live), desired, live)
    if not patch:
        return live
    return await kube.merge_patch(
        str(obj["apiVersion"]),
        key.kind,
        key.name,
        patch,
        key.namespace,
        dry_run=dry_run,
        field_manager=FIELD_MANAGER,
        field_validation=field_validation,
    )
