"""Whether a sync may write each object it would apply: nothing is taken from another app.

An object that exists and is not this app's (another app's label, or nobody's)
stops the whole sync unless adoption was allowed (``engine.adoption``), so a
commit is applied whole or not at all.
"""

from __future__ import annotations

import asyncio
import logging

from tether.adapters.kube import ApiError, KubeClient, UnknownKind
from tether.controller.live_cache import LiveCache
from tether.controller.passes import Pass
from tether.controller.sync import TakeoverRefused
from tether.engine import adoption, plan
from tether.engine.objects import Obj, ObjectKey, key_of

log = logging.getLogger(__name__)


async def refused(
    kube: KubeClient,
    cache: LiveCache,
    p: Pass,
    sync_plan: plan.SyncPlan,
    inventory: set[ObjectKey],
) -> dict[ObjectKey, ApiError]:
    """The objects this sync would apply that exist and are not ours to take.

    The live cache holds only labelled objects of most kinds, so an object it
    does not know is read from the cluster (it may exist without any label),
    unless this pass's dry run just found it missing.
    """
    assert p.spec is not None
    live: dict[ObjectKey, Obj] = {}
    unknown: dict[ObjectKey, ApiError] = {}
    gate = asyncio.Semaphore(8)
    absent = p.comparison.absent if p.comparison is not None else set()

    async def read(obj: Obj) -> None:
        key = key_of(obj)
        found = cache.get(key)
        if found is None and key not in absent:
            try:
                async with gate:
                    found = await kube.get_or_none(
                        str(obj["apiVersion"]), key.kind, key.name, key.namespace
                    )
            except UnknownKind:
                found = None  # its CRD comes in this sync: nothing of it exists yet
            except ApiError as exc:
                unknown[key] = TakeoverRefused(
                    f"{adoption.describe(key)}: cannot tell whether it exists and whose it "
                    f"is: {exc.message}"
                )
        if found is not None:
            live[key] = found

    await asyncio.gather(*(read(o) for o in sync_plan.apply))
    claims = adoption.judge(
        sync_plan.apply,
        live,
        app_name=p.name,
        inventory=inventory,
        adopt_existing=p.spec.sync_policy.option("AdoptExisting"),
    )
    for c in claims:
        if c.verdict == adoption.ADOPT:
            log.info("%s: %s", p.name, c.message)
    return unknown | {c.key: TakeoverRefused(c.message) for c in claims if c.refused}
