"""PostDelete hooks: run after an Application's resources are gone, before it goes.

When an Application with a cascade finalizer is deleted, ``cascade`` first
deletes its resources; once none is left, the app's PostDelete hooks
(``argocd.argoproj.io/hook: PostDelete``, Helm's ``post-delete``) are
rendered at the revision the app last deployed (``status.sync.revision``;
the render is cached by commit) and created, as its project's writer. The
finalizer is released only after every one of them succeeded; then each is
deleted per its policy, ``HookSucceeded`` being the default here as in
Argo CD. A failed hook keeps the finalizer, stays in the cluster to be read,
and sets the ``PostDeleteHookFailed`` condition naming it and why. A render
that fails (the repository is gone) runs no hook: a warning event says so and
the deletion completes, so an app never outlives its source.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tether.adapters.kube import ApiError, KubeClient
from tether.controller import events
from tether.controller import hooks as hook_step
from tether.controller import status as st
from tether.controller.live_cache import LiveCache
from tether.controller.passes import Stop
from tether.engine import application as appmodel
from tether.engine import hooks as hookmodel
from tether.engine.health import HealthRules
from tether.engine.objects import Obj, meta

if TYPE_CHECKING:
    from tether.controller.clusters import Connection

log = logging.getLogger(__name__)
CONDITION = "PostDeleteHookFailed"
WAIT = 1.0  # between looks at running hooks
RETRY = 10.0  # after a hook failed: it stays failed until someone steps in

Render = Callable[[Obj], Awaitable[list[Obj]]]
Rules = Callable[[], Awaitable[HealthRules | None]]


@dataclass
class Outcome:
    """One look at an app's PostDelete hooks: ``wait`` is when to look again (None:
    all succeeded, the finalizer may go); ``finished`` are the hooks to clean up."""

    wait: float | None
    finished: list[tuple[Obj, Obj]] = field(default_factory=list)  # (live object, render)

    async def clean(self, writer: KubeClient) -> None:
        """Delete the succeeded hooks their policy says to delete (after the release)."""
        for obj, hook in self.finished:
            await hook_step.apply_delete_policy(
                writer, obj, _with_default(hook), hookmodel.SUCCEEDED
            )


def _with_default(hook: Obj) -> Obj:
    """A PostDelete hook without a policy is deleted after it succeeded (Argo CD's default)."""
    notes = (hook.get("metadata") or {}).get("annotations") or {}
    named = any(n in notes for n in (*hookmodel.POLICY_ANNOTATIONS, hookmodel.HELM_POLICY))
    if named:
        return hook
    patched = {**hook, "metadata": {**hook["metadata"], "annotations": {**notes}}}
    patched["metadata"]["annotations"][hookmodel.POLICY_ANNOTATIONS[0]] = hookmodel.HOOK_SUCCEEDED
    return patched


class PostDelete:
    """Runs the PostDelete hooks of apps being deleted, from the reconciler's render."""

    def __init__(self, render: Render, live: LiveCache, rules: Rules) -> None:
        self.render = render
        self.live = live
        self.rules = rules

    async def run(
        self, app: Obj, writer: KubeClient, kube: KubeClient, target: Connection | None
    ) -> Outcome:
        name = str(meta(app)["name"])
        try:
            hooks = await self.render(app)
        except Stop as exc:
            await events.record(
                kube,
                app,
                "PostDeleteSkipped",
                f"PostDelete hooks of {name} not run: {exc.message}",
                warning=True,
            )
            return Outcome(None)
        if not hooks:
            return Outcome(None)
        live = target.live if target is not None else self.live
        await live.ensure_kinds({(str(h["apiVersion"]), str(h["kind"])) for h in hooks})
        rules = await self.rules()
        op_id = f"postdelete-{meta(app).get('uid', '')}"
        finished: list[tuple[Obj, Obj]] = []
        failures: list[str] = []
        for hook in hooks:
            run = await hook_step.start(
                writer, live, hook, op_id=op_id, hook_type=hookmodel.POST_DELETE
            )
            outcome, message, obj = hook_step.assess(live, run, rules)
            if outcome == hookmodel.FAILED:
                failures.append(f"{hook['kind']}/{run.source}: {message}")
            elif outcome == hookmodel.SUCCEEDED and obj is not None:
                finished.append((obj, hook))
        if failures:
            message = f"PostDelete hook failed, {name} is kept: " + "; ".join(failures)
            await self._condition(app, kube, message)
            return Outcome(RETRY)
        if len(finished) < len(hooks):
            return Outcome(WAIT)
        return Outcome(None, finished)

    async def _condition(self, app: Obj, kube: KubeClient, message: str) -> None:
        status = dict(app.get("status") or {})
        before = [c for c in status.get("conditions") or [] if c.get("type") == CONDITION]
        if before and before[0].get("message") == message:
            return
        st.set_condition(status, CONDITION, message)
        await events.record(kube, app, CONDITION, message, warning=True)
        try:
            await kube.merge_patch(
                appmodel.API_VERSION,
                appmodel.KIND,
                str(meta(app)["name"]),
                {"status": {"conditions": status["conditions"]}},
                str(meta(app).get("namespace") or ""),
                subresource="status",
            )
        except ApiError as exc:
            log.warning("condition of %s not written: %s", meta(app).get("name"), exc)
