"""Dependencies between apps: an app syncs only after the apps it depends on are ready.

Flux's ``dependsOn``, on Applications: ``spec.dependsOn: [{name: db}]`` (or,
for Argo CD manifests, which have no such field, the annotation
``tether.dev/depends-on: db,queue``). A dependency is ready when its
Application has been reconciled at its current spec, has no pending
operation and no error condition, and is Synced and Healthy at the revision
it last compared; a dependency that itself waits is not ready, so readiness
is transitive. A cycle can never become ready, so it is refused and named
instead of waiting forever.

Pure decisions over the Applications as the API server returns them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tether.engine.objects import Obj, meta
from tether.engine.objects import annotations as annotations_of

ANNOTATION = "tether.dev/depends-on"
WAITING = "DependencyNotReady"
RUNNING = "Running"  # operationState.phase of a sync that spans passes (waves, hooks)
CYCLE = "DependencyCycle"
# Conditions under which an app's Synced/Healthy status says nothing about its
# current revision (it could not render, was refused, failed to sync, or waits).
BLOCKING_CONDITIONS = (
    "ComparisonError",
    "InvalidSpec",
    "ProjectDenied",
    "SyncError",
    "ManagesAncestor",
    WAITING,
    CYCLE,
)


def depends_on(app: Obj) -> list[str]:
    """The names ``app`` depends on: ``spec.dependsOn`` then the annotation, once each."""
    names: list[str] = []
    for entry in (app.get("spec") or {}).get("dependsOn") or []:
        if isinstance(entry, dict) and entry.get("name"):
            names.append(str(entry["name"]))
    names += [n.strip() for n in annotations_of(app).get(ANNOTATION, "").split(",") if n.strip()]
    return list(dict.fromkeys(names))


def find_cycle(start: str, edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """The shortest dependency cycle through ``start`` as ``[start, ..., start]``, or None."""
    parent: dict[str, str] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for nxt in edges.get(node, ()):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if nxt not in seen:
                seen.add(nxt)
                parent[nxt] = node
                queue.append(nxt)
    return None


def not_ready(name: str, app: Obj | None) -> str | None:
    """Why dependency ``name`` is not ready yet, or None when it is."""
    if app is None:
        return "it does not exist"
    if meta(app).get("deletionTimestamp"):
        return "it is being deleted"
    status = app.get("status") or {}
    generation = int(meta(app).get("generation") or 0)
    observed = status.get("observedGeneration")
    if observed is None or int(observed) < generation:
        return f"it has not been reconciled since its spec changed (generation {generation})"
    if app.get("operation"):
        return "a sync of it was requested and has not finished"
    if (status.get("operationState") or {}).get("phase") == RUNNING:
        return "a sync of it is running"
    for cond in status.get("conditions") or []:
        if cond.get("type") in BLOCKING_CONDITIONS:
            return f"it has {cond['type']}: {cond.get('message', '')}"
    sync = status.get("sync") or {}
    revision = str(sync.get("revision") or "")[:12] or "an unknown revision"
    if sync.get("status") != "Synced":
        return f"it is {sync.get('status') or 'Unknown'} at {revision}"
    health = status.get("health") or {}
    if health.get("status") != "Healthy":
        said = f": {health['message']}" if health.get("message") else ""
        return f"it is {health.get('status') or 'Unknown'} at {revision}{said}"
    return None


@dataclass(frozen=True)
class Verdict:
    """What the dependencies of one app allow: nothing (a cycle), or wait for some."""

    cycle: list[str] | None = None
    waiting: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.cycle is None and not self.waiting

    def message(self) -> str:
        if self.cycle is not None:
            return (
                f"dependency cycle: {' -> '.join(self.cycle)}; no app in it can sync until "
                "one of them stops depending on the next (spec.dependsOn)"
            )
        parts = [f"{name}: {why}" for name, why in self.waiting.items()]
        return (
            f"waiting for {'; '.join(parts)} (an app syncs only after each app it depends "
            "on is Synced and Healthy at its current revision)"
        )


def judge(app_name: str, needs: Sequence[str], apps: Mapping[str, Obj]) -> Verdict:
    """The verdict for ``app_name`` depending on ``needs``, given every app by name."""
    if not needs:
        return Verdict()
    edges = {name: depends_on(app) for name, app in apps.items()}
    edges[app_name] = list(needs)
    cycle = find_cycle(app_name, edges)
    if cycle is not None:
        return Verdict(cycle=cycle)
    waiting = {d: why for d in needs if (why := not_ready(d, apps.get(d))) is not None}
    return Verdict(waiting=waiting)
