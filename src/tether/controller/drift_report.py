"""What self-heal reverted, in words: each object, the fields and who changed them.

The live cache keeps no managedFields, so the drifted objects are read whole
before the sync's apply takes their fields back; the Event then names the
field managers that wrote the drifted paths.
"""

from __future__ import annotations

from tether.adapters.kube import KubeClient
from tether.controller import status as st
from tether.controller.passes import Pass
from tether.controller.sync import SyncOutcome
from tether.engine import application as appmodel
from tether.engine import ownership


async def read_field_owners(kube: KubeClient, p: Pass) -> None:
    """Read the drifted objects with their managedFields (the cache keeps none),
    before our apply takes ownership back, so the event can say who changed what."""
    assert p.comparison is not None
    for key in p.comparison.out_of_sync:
        cached = p.live_of.get(key)
        if cached is None:
            continue
        full = await kube.get_or_none(str(cached["apiVersion"]), key.kind, key.name, key.namespace)
        if full is not None and full["metadata"].get("uid") == cached["metadata"].get("uid"):
            p.live_of[key] = full


def message(p: Pass, outcome: SyncOutcome) -> str:
    """What self-heal reverted: each object, the paths and who changed them.

    Judged on the live objects as compared; an object deleted after the
    comparison (and so recreated by this sync's apply) is found by its new uid.
    """
    assert p.comparison is not None
    parts = []
    recreated = {
        k
        for k in outcome.applied
        if k not in p.comparison.out_of_sync
        and (before := p.live_of.get(k)) is not None
        and (outcome.results.get(k) or {}).get("metadata", {}).get("uid")
        not in (None, before["metadata"].get("uid"))
    }
    for key in sorted(p.comparison.out_of_sync | recreated):
        d = p.comparison.diffs.get(key)
        live = None if key in recreated else p.live_of.get(key)
        if d is None or live is None:
            if live is None and key in p.comparison.diffs and key in outcome.applied:
                parts.append(f"{key.kind} {key.name} was deleted; recreated")
            continue
        paths = d.changed_paths[:4]
        managers = ownership.field_managers(live, paths, ignore=appmodel.FIELD_MANAGER)
        who = f" by {', '.join(managers)}" if managers else ""
        parts.append(f"{key.kind} {key.name}: {', '.join(paths)} changed{who}")
    if st.deployed_revision(p.status) != p.sha:
        return ""
    return "self-heal reverted drift: " + "; ".join(parts) if parts else ""
