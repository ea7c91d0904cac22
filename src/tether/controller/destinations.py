"""Namespaces a sync creates, and validating what goes into them before anything else.

The API server refuses a dry run in a namespace that does not exist before it
looks at the object, so the comparison cannot validate what an app puts into a
namespace it creates: ``CreateNamespace=true``, or a Namespace rendered from Git
in the same commit. The sync creates those namespaces first, then dry-runs the
objects the comparison left unvalidated, and only then applies: a commit the
API server refuses in part leaves at most its empty namespaces behind, and
nothing else applied (Argo CD also creates the namespace before its dry run).
"""

from __future__ import annotations

import logging

from tether.adapters.kube import ApiError, Conflict, KubeClient
from tether.controller.compare import validate
from tether.controller.live_cache import LiveCache
from tether.controller.passes import Pass
from tether.controller.sync import execute
from tether.engine import adoption, plan, sync_options
from tether.engine.objects import Obj, ObjectKey, key_of

log = logging.getLogger(__name__)


def namespace_key(name: str) -> ObjectKey:
    return ObjectKey("", "Namespace", "", name)


async def ensure_namespace(kube: KubeClient, live: LiveCache, name: str, app_name: str) -> None:
    """Create the destination (CreateNamespace). It carries no app label, so it is
    never pruned, but it names the app that may adopt it if Git renders it later."""
    if live.has(namespace_key(name)):
        return
    try:
        await kube.create(  # not apply: one that exists already is left as it is
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "annotations": {adoption.ADOPT_ANNOTATION: app_name},
                },
            }
        )
    except Conflict:
        return
    except ApiError as exc:
        log.warning("could not create namespace %s: %s", name, exc)


def _rendered_namespaces(p: Pass, pending: list[Obj], live: LiveCache) -> list[Obj]:
    """The Namespaces Git renders that hold ``pending`` objects and do not exist yet."""
    wanted = {namespace_key(key_of(o).namespace) for o in pending}
    return [o for o in p.desired if key_of(o) in wanted and not live.has(key_of(o))]


async def validate_unvalidated(p: Pass, kube: KubeClient, live: LiveCache) -> None:
    """Dry-run what the comparison could not, once its namespace exists.

    A Namespace rendered from Git is applied ahead of the rest for that, as it
    would be first in its wave anyway, but only when the comparison found
    nothing to refuse: a commit already refused applies nothing at all. What
    the dry run finds existing is read before it is applied, as any object is
    (the live cache may not have seen a namespace created a moment ago).
    """
    assert p.spec is not None and p.comparison is not None
    pending = [o for o in p.desired if key_of(o) in p.comparison.unvalidated]
    if not pending:
        return
    options = sync_options.for_spec(p.spec)
    namespaces = _rendered_namespaces(p, pending, live)
    if namespaces and not p.comparison.errors:
        ahead = await execute(
            kube,
            plan.SyncPlan(apply=namespaces, prune=[], skipped_prune=[]),
            app_name=p.name,
            options=options,
        )
        p.comparison.errors.update(ahead.errors)
    found = await validate(kube, pending, options)
    p.comparison.errors.update(found.refused)
    p.comparison.absent -= found.existing
    p.comparison.unvalidated = found.unanswered
