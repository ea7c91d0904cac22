"""The steps of a sync operation: phases, waves, prunes, in Argo CD's order.

A sync runs in phases (PreSync, Sync, PostSync; SyncFail after a failure).
Within a phase, objects apply wave by wave, lowest first, and within a wave
by kind (Namespaces and CRDs first) then name. Prunes run after the Sync
phase's applies in reverse wave order, objects marked ``PruneLast=true`` (or
every prune, with the app's ``PruneLast=true`` sync option) last of all;
with ``prune_first`` the prunes run before the applies instead.

A step is done when what it applied is healthy (a hook: Succeeded) and what
it pruned is gone. The controller waits for that only where a later step
depends on it: a lone wave of an app without hooks finishes as soon as it is
applied, as a sync without waves always has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tether.engine import hooks
from tether.engine.objects import Obj, ObjectKey
from tether.engine.waves import wave_of

APPLY = "apply"
PRUNE = "prune"
PRUNE_LAST = "prune-last"
PHASES = (hooks.PRE_SYNC, hooks.SYNC, hooks.POST_SYNC, hooks.SYNC_FAIL)


@dataclass(frozen=True)
class Step:
    phase: str
    action: str
    wave: int = 0

    @property
    def id(self) -> str:
        return f"{self.phase}/{self.action}/{self.wave}"

    @classmethod
    def parse(cls, text: str) -> Step:
        phase, action, wave = text.split("/", 2)
        return cls(phase, action, int(wave))

    def describe(self) -> str:
        if self.action == PRUNE_LAST:
            return "the last prunes (PruneLast)"
        if self.action == PRUNE:
            return f"the prunes of wave {self.wave}"
        return f"wave {self.wave} of the {self.phase} phase"


@dataclass(frozen=True)
class Prune:
    """An object to prune: its key, its live wave, and whether it goes last."""

    key: ObjectKey
    wave: int = 0
    last: bool = False


def hook_phase(hook: Obj) -> str:
    """The sync phase a hook runs in (a hook of several types runs in the first)."""
    types = hooks.hook_types(hook)
    return next((p for p in PHASES if p in types), "")


def plan(
    resources: Iterable[Obj],
    hook_objects: Iterable[Obj],
    prunes: Iterable[Prune],
    *,
    prune_first: bool = False,
) -> list[Step]:
    """The steps of a sync, in order (SyncFail hooks are in ``fail_plan``)."""
    by_phase: dict[str, set[int]] = {p: set() for p in PHASES}
    by_phase[hooks.SYNC] |= {wave_of(o) for o in resources}
    for hook in hook_objects:
        phase = hook_phase(hook)
        if phase in (hooks.PRE_SYNC, hooks.SYNC, hooks.POST_SYNC):
            by_phase[phase].add(wave_of(hook))
    prune_list = list(prunes)
    prune_steps = [
        Step(hooks.SYNC, PRUNE, w) for w in sorted({p.wave for p in prune_list if not p.last})
    ][::-1]
    if any(p.last for p in prune_list):
        prune_steps.append(Step(hooks.SYNC, PRUNE_LAST, 0))
    steps = [Step(hooks.PRE_SYNC, APPLY, w) for w in sorted(by_phase[hooks.PRE_SYNC])]
    sync_steps = [Step(hooks.SYNC, APPLY, w) for w in sorted(by_phase[hooks.SYNC])]
    if prune_first:
        steps += prune_steps + sync_steps
    else:
        steps += sync_steps + prune_steps
    steps += [Step(hooks.POST_SYNC, APPLY, w) for w in sorted(by_phase[hooks.POST_SYNC])]
    return steps


def fail_plan(hook_objects: Iterable[Obj]) -> list[Step]:
    waves = {wave_of(h) for h in hook_objects if hook_phase(h) == hooks.SYNC_FAIL}
    return [Step(hooks.SYNC_FAIL, APPLY, w) for w in sorted(waves)]


def members(step: Step, objects: Iterable[Obj]) -> list[Obj]:
    """The resources (phase Sync) or hooks (their own phase) that ``step`` applies."""
    if step.action != APPLY:
        return []
    out = []
    for obj in objects:
        phase = hook_phase(obj) if hooks.is_hook(obj) else hooks.SYNC
        if phase == step.phase and wave_of(obj) == step.wave:
            out.append(obj)
    return out


def prunes_of(step: Step, prunes: Iterable[Prune]) -> list[Prune]:
    if step.action == PRUNE_LAST:
        return [p for p in prunes if p.last]
    if step.action == PRUNE:
        return [p for p in prunes if not p.last and p.wave == step.wave]
    return []


def must_wait(steps: list[Step], index: int, *, has_hooks: bool) -> bool:
    """Whether step ``index`` must be done (healthy, hooks finished, prunes gone)
    before the operation moves on or ends.

    A step with hooks always waits: their outcome is the sync's outcome. Other
    steps wait when a later step depends on them; prunes of an ordinary sync
    follow its applies at once, as they always have.
    """
    if has_hooks:
        return True
    later = steps[index + 1 :]
    if not later:
        return False
    if steps[index].action == APPLY:
        return any(s.action in (APPLY, PRUNE_LAST) for s in later)
    return True
