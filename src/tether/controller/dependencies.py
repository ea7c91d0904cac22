"""The dependency gate of a reconcile: no sync until the apps this one depends on are ready.

Runs after the comparison (so a waiting app still shows what it would
change) and before the sync. Waiting is the ``DependencyNotReady``
condition naming each app and why; a cycle is ``DependencyCycle`` naming
it. Both hold automated syncs and manual ones alike: a requested sync ends
at once with the reason, as one outside a sync window does. The app looks
again every few seconds while it waits, since a dependency becoming ready
changes nothing of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from tether.controller import status as st
from tether.controller.live_cache import LiveCache
from tether.controller.passes import Pass
from tether.engine import application as appmodel
from tether.engine import dependencies

RECHECK = 5.0

FinishOperation = Callable[[Pass, str, str], None]


def ready(p: Pass, live: LiveCache, app_namespace: str, finish: FinishOperation) -> bool:
    """Whether this pass may sync; otherwise the conditions say why."""
    if (p.status.get("operationState") or {}).get("phase") == dependencies.RUNNING:
        return True  # a sync that started once its dependencies were ready finishes
    needs = dependencies.depends_on(p.app)
    # Reading every app decodes each one from the live cache: only an app that
    # depends on others needs them.
    apps = (
        {
            str(o["metadata"]["name"]): o
            for o in live.in_namespace(app_namespace, kind=(appmodel.GROUP, appmodel.KIND))
            if o.get("apiVersion") == appmodel.API_VERSION
        }
        if needs
        else {}
    )
    verdict = dependencies.judge(p.name, needs, apps)
    message = None if verdict.ready else verdict.message()
    st.set_condition(p.status, dependencies.CYCLE, message if verdict.cycle else None)
    st.set_condition(p.status, dependencies.WAITING, message if verdict.waiting else None)
    if verdict.ready:
        return True
    if verdict.waiting:
        p.requeue_after = RECHECK  # a cycle changes only with a spec, which requeues anyway
    if p.operation is not None:
        finish(p, "Error", f"sync refused: {message}")
    return False
