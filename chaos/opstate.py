"""A user's operation on one app, as the faults that aim a kill at it see it.

The kill-rollback and kill-hook faults request an operation, wait until the
controller has taken it up (its ``operationState`` Running, initiated by that
user), SIGKILL the controller and start it again; then they wait for the
operation to finish and judge it. What is read here is what a user reads:
the Application's ``operation``, ``status.operationState`` and history.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.harness import APPS_PATH, Env

from chaos import invariants
from chaos.world import World

App = dict[str, Any]
RUNNING = "Running"
POLL_SECONDS = 0.05


@dataclass
class Injected:
    """What one aimed kill left: fields for the fault's record, findings, and when the
    controller was running again (the time to converge is counted from there)."""

    record: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    restarted: float = 0.0


def read(env: Env, name: str) -> App:
    resp = env.api.get(f"{APPS_PATH}/{name}")
    resp.raise_for_status()
    app: App = resp.json()
    return app


def state(app: App) -> dict[str, Any]:
    return dict((app.get("status") or {}).get("operationState") or {})


def wait_for(env: Env, name: str, ready: Callable[[App], bool], timeout: float) -> App | None:
    """The app once ``ready`` holds for it, or None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        app = read(env, name)
        if ready(app):
            return app
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_SECONDS)


def running_for(user: str) -> Callable[[App], bool]:
    """The controller has taken the user's operation up and stored it as Running."""

    def ready(app: App) -> bool:
        op = state(app)
        return op.get("initiatedBy") == user and op.get("phase") == RUNNING

    return ready


def finished_for(user: str) -> Callable[[App], bool]:
    """The user's operation has a result and its request is cleared."""

    def ready(app: App) -> bool:
        op = state(app)
        return (
            not app.get("operation")
            and op.get("initiatedBy") == user
            and op.get("phase") not in (None, "", RUNNING)
        )

    return ready


def hook_running(app: App) -> bool:
    """A hook of the running operation is recorded as created and not done yet."""
    op = state(app)
    resources = (op.get("syncResult") or {}).get("resources") or []
    return op.get("phase") == RUNNING and any(
        r.get("hookType") and r.get("hookPhase") == RUNNING for r in resources
    )


def stage(app: App, user: str) -> str:
    """Where the user's operation stood (read right after the kill)."""
    op = state(app)
    if op.get("initiatedBy") != user:
        return "requested, not taken up"
    if op.get("phase") == RUNNING:
        return "hook running" if hook_running(app) else "running"
    if app.get("operation"):
        return "result written, request not cleared"
    return "finished"


def kill_and_restart(
    world: World, observer: invariants.Observer, rng: random.Random
) -> tuple[str, float]:
    """SIGKILL the controller and start it again; (the write the kill interrupted, when the
    controller was started again)."""
    at = time.monotonic()
    world.controller.kill()
    interrupted = observer.interrupted(at)
    time.sleep(rng.uniform(0.2, 1.5))
    world.controller.start()
    return interrupted, time.monotonic()


def startup_seconds(log: str, since: float) -> float | None:
    """Seconds from ``since`` (epoch) until the controller's log says it started (its
    imports, first lists and watches: most of a restart on a busy machine)."""
    for line in log.splitlines():
        if "controller started" not in line:
            continue
        try:
            stamp = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        except ValueError:
            continue
        return round(stamp.replace(tzinfo=dt.UTC).timestamp() - since, 2)
    return None


def history_by(observer: invariants.Observer, app: App, user: str) -> dict[int, dict[str, Any]]:
    """Every history entry the user's operation left: seen by the observer at any time
    (a later entry may have pushed it out of the status since), and in the status now."""
    name = str(app["metadata"]["name"])
    out: dict[int, dict[str, Any]] = {}
    with observer.lock:
        for ident, (revision, who) in observer.seen.history.get(name, {}).items():
            if who == user:
                out[ident] = {"id": ident, "revision": revision, "initiatedBy": who}
    for entry in (app.get("status") or {}).get("history") or []:
        if entry.get("initiatedBy") == user:
            out[int(entry["id"])] = dict(entry)
    return out


def failed(observer: invariants.Observer, app: App, user: str) -> bool:
    """The user's operation was reported failed (seen Failed/Error, or is so now)."""
    with observer.lock:
        seen = set(observer.seen.ops_seen.get(user, set()))
    op = state(app)
    if op.get("initiatedBy") == user:
        seen.add(str(op.get("phase")))
    return bool(seen & {"Failed", "Error"})
