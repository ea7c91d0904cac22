"""kill-rollback: the controller SIGKILLed while it rolls an app back, as a user asked.

The rollback is requested the way ``tether app rollback`` (``ControllerService.
rollback``) writes it: the auto-sync pause annotation, then ``operation: {sync:
{revision}, rollback: id}``. Once the controller has taken it up (Running for
that user) it is killed and started again. Judged after the restart: the
rollback finished exactly once (one history entry by that user, naming its
operation) or is reported failed; the cluster holds the rolled-back revision's
objects (and nothing the app never owned went). Then Git moves the app on and
auto-sync is resumed as ``tether app resume`` does, so the app converges to
the Git head with the others.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from bench.harness import APPS_PATH

from chaos import invariants, opstate
from chaos.load import LoadDriver, app_name
from chaos.world import World
from tether.engine import application as appmodel

TAKE_UP_SECONDS = 20.0
FINISH_SECONDS = 90.0
DEPLOY_SECONDS = 40.0


def inject(
    k: int,
    rng: random.Random,
    world: World,
    driver: LoadDriver,
    observer: invariants.Observer,
) -> opstate.Injected:
    env = world.env
    i, target = _victim(rng, world, driver)
    name = app_name(i)
    done = opstate.Injected(record={"app": name})
    if target is None:
        done.violations.append(f"{name}: no earlier history entry to roll back to")
        done.record["interrupted"] = "no rollback"
        done.restarted = time.monotonic()
        return done
    history_id, revision, gen = target
    user = f"chaos-op-{k + 1}-rollback"
    driver.held.add(i)
    with driver._busy:  # a drift of this app already under way lands before the rollback
        pass
    with driver.ledger.lock:
        driver.ledger.pin(i, gen)
    _request(world, name, history_id, revision, user)
    taken = opstate.wait_for(env, name, opstate.running_for(user), TAKE_UP_SECONDS)
    # A rollback without hooks is Running for a fraction of a second (apply, then result).
    time.sleep(rng.uniform(0.0, 0.15))
    log_from, wall = world.controller.log_size(), time.time()
    interrupted, done.restarted = opstate.kill_and_restart(world, observer, rng)
    seen = opstate.read(env, name)
    done.record["interrupted"] = (
        opstate.stage(seen, user) if taken is not None else "not taken up in time"
    )
    done.record["write"] = interrupted
    done.record["history_id"] = history_id
    app = opstate.wait_for(env, name, opstate.finished_for(user), FINISH_SECONDS)
    done.record["finished_seconds"] = round(time.monotonic() - done.restarted, 2)
    done.record["startup_seconds"] = opstate.startup_seconds(
        world.controller.log_since(log_from), wall
    )
    if app is None:
        done.violations.append(
            f"{name}: the rollback by {user} did not finish within {FINISH_SECONDS:.0f}s "
            f"after the restart ({opstate.stage(opstate.read(env, name), user)})"
        )
        app = opstate.read(env, name)
    else:
        done.violations += _judge(env, observer, app, user, i, revision, gen)
    # Git moves the app on (a fix), and auto-sync follows Git again.
    driver.commit([i], f"chaos: {name} moves on after its rollback")
    _resume(world, name)
    with driver.ledger.lock:
        driver.ledger.unpin(i)
    driver.held.discard(i)
    return done


def _victim(
    rng: random.Random, world: World, driver: LoadDriver
) -> tuple[int, tuple[int, str, int] | None]:
    """An app with an earlier history entry of other content, preferring one whose
    rollback prunes (the moving ConfigMap differs): (app, (history id, revision, gen))."""
    apps = list(range(driver.n))
    rng.shuffle(apps)
    for i in apps:
        target = _target(world, driver, i)
        if target is not None:
            return i, target
    # None yet (the run has just started): move one app on, and roll that back.
    i = apps[0]
    sha = driver.commit([i], f"chaos: {app_name(i)} moves on, to be rolled back")
    opstate.wait_for(
        world.env,
        app_name(i),
        lambda app: _last_revision(app) == sha,
        DEPLOY_SECONDS,
    )
    return i, _target(world, driver, i)


def _last_revision(app: opstate.App) -> str:
    history = (app.get("status") or {}).get("history") or []
    return str(history[-1]["revision"]) if history else ""


def _target(world: World, driver: LoadDriver, i: int) -> tuple[int, str, int] | None:
    app = opstate.read(world.env, app_name(i))
    history = (app.get("status") or {}).get("history") or []
    with driver.ledger.lock:
        at = dict(driver.ledger.at)
    if len(history) < 2 or str(history[-1]["revision"]) not in at:
        return None
    current = at[str(history[-1]["revision"])][i]
    found = [
        (int(h["id"]), str(h["revision"]), at[str(h["revision"])][i])
        for h in history[:-1]
        if str(h["revision"]) in at and at[str(h["revision"])][i] != current
    ]
    prunes = [f for f in found if f[2] // 2 != current // 2]
    choice = (prunes or found)[-1:] if found else []
    return choice[0] if choice else None


def _patch(world: World, name: str, body: dict[str, Any]) -> None:
    resp = world.env.api.patch(
        f"{APPS_PATH}/{name}",
        content=json.dumps(body),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    resp.raise_for_status()


def _request(world: World, name: str, history_id: int, revision: str, user: str) -> None:
    """As ControllerService.rollback writes it: pause auto-sync, then the operation."""
    reason = f"rolled back to history {history_id} ({revision[:12]}) by {user}"
    _patch(world, name, {"metadata": {"annotations": {appmodel.PAUSE_ANNOTATION: reason}}})
    _patch(
        world,
        name,
        {
            "operation": {
                "sync": {"revision": revision},
                "rollback": history_id,
                "initiatedBy": {"username": user},
            }
        },
    )


def _resume(world: World, name: str) -> None:
    """As ``tether app resume``: drop the pause, ask for a refresh."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _patch(
        world,
        name,
        {
            "metadata": {
                "annotations": {
                    appmodel.PAUSE_ANNOTATION: None,
                    appmodel.REFRESH_ANNOTATION: stamp,
                }
            }
        },
    )


def _judge(
    env: Any,
    observer: invariants.Observer,
    app: opstate.App,
    user: str,
    i: int,
    revision: str,
    gen: int,
) -> list[str]:
    """Finished exactly once (or reported failed), at the rolled-back revision, with the
    cluster holding that revision's objects and nothing else of the app's."""
    name = app_name(i)
    entries = opstate.history_by(observer, app, user)
    failed = opstate.failed(observer, app, user)
    if len(entries) > 1:
        return [f"{name}: the rollback by {user} was recorded {len(entries)} times"]
    if not entries:
        return (
            []
            if failed
            else [f"{name}: the rollback by {user} vanished: neither recorded nor failed"]
        )
    entry = next(iter(entries.values()))
    out = []
    if entry["revision"] != revision:
        out.append(
            f"{name}: the rollback by {user} recorded {str(entry['revision'])[:12]}, "
            f"not {revision[:12]}"
        )
    if "operationId" in entry and not entry.get("operationId"):
        out.append(f"{name}: the rollback's history entry names no operation")
    state = opstate.state(app)
    if state.get("phase") != "Succeeded":
        out.append(f"{name}: rollback recorded in the history but {state.get('phase')}")
    return out + invariants.content(env.api, i, gen)
