"""kill-hook: the controller SIGKILLed while a sync runs its PreSync hook.

Hooked apps (every tenth, ``load.hook_file``) carry a PreSync Job that takes a
few seconds. A sync is requested on one of them; the kill is aimed from its
``operationState``: right after the controller stored the operation as Running
(the hook is being created, perhaps not yet recorded), while the hook is
recorded as running, or just after its Job completed (the controller records
the outcome and, under HookSucceeded, deletes the Job). Judged after the
restart: the sync finished once or was reported failed (``invariants`` judges
every requested sync), the hook was created exactly once for that operation
(hooks carry the operation's id; a second Job for it anywhere is reported by
the observer), and its success is in the deploy's history entry.
"""

from __future__ import annotations

import random
import time

from chaos import invariants, opstate
from chaos.load import GENERATED_HOOK, NAMED_HOOK, LoadDriver, app_name
from chaos.world import World
from tether.controller.hooks import OPERATION_LABEL

TAKE_UP_SECONDS = 30.0
FINISH_SECONDS = 120.0
AIMS = ("stored", "hook", "finishing")


def hooked_apps(apps: int) -> dict[int, str]:
    """Every tenth app has a hook: named ones and generated ones in turn."""
    return {i: NAMED_HOOK if (i // 10) % 2 == 0 else GENERATED_HOOK for i in range(0, apps, 10)}


def inject(
    k: int,
    rng: random.Random,
    world: World,
    driver: LoadDriver,
    observer: invariants.Observer,
) -> opstate.Injected:
    env = world.env
    i = rng.choice(sorted(driver.hooked))
    name = app_name(i)
    user = f"chaos-op-{k + 1}-hook"
    aim = rng.choice(AIMS)
    done = opstate.Injected(record={"app": name, "hook": driver.hooked[i], "aim": aim})
    driver.request_sync(i, user)
    running = opstate.running_for(user)
    ready = running if aim == "stored" else (lambda app: running(app) and opstate.hook_running(app))
    taken = opstate.wait_for(env, name, ready, TAKE_UP_SECONDS)
    if aim == "finishing" and taken is not None:
        _job_completed(world, name, str(opstate.state(taken).get("id") or ""))
    # The controller looks at a running hook every couple of seconds.
    time.sleep(rng.uniform(0.0, 0.2) if aim == "stored" else rng.uniform(0.0, 2.0))
    log_from, wall = world.controller.log_size(), time.time()
    interrupted, done.restarted = opstate.kill_and_restart(world, observer, rng)
    done.record["write"] = interrupted
    done.record["interrupted"] = (
        opstate.stage(opstate.read(env, name), user)
        if taken is not None
        else "not taken up in time"
    )
    app = opstate.wait_for(env, name, opstate.finished_for(user), FINISH_SECONDS)
    done.record["finished_seconds"] = round(time.monotonic() - done.restarted, 2)
    done.record["startup_seconds"] = opstate.startup_seconds(
        world.controller.log_since(log_from), wall
    )
    if app is None:
        done.violations.append(
            f"{name}: the sync by {user} did not finish within {FINISH_SECONDS:.0f}s "
            f"after the restart ({opstate.stage(opstate.read(env, name), user)})"
        )
        return done
    entries = list(opstate.history_by(observer, app, user).values())
    if len(entries) != 1:
        return done  # not recorded once: the requested-sync invariant reports it
    entry = entries[0]
    op = str(entry.get("operationId") or "")
    if not op:
        done.violations.append(f"{name}: the sync by {user} is in the history without its id")
        return done
    created = observer.hooks_of(name, op)
    hooks = entry.get("hooks") or []
    if created == 0:
        done.violations.append(f"{name}: the sync by {user} succeeded but ran no hook")
    if not any(h.get("hookPhase") == "Succeeded" for h in hooks):
        done.violations.append(
            f"{name}: the history entry of the sync by {user} shows no succeeded hook: {hooks}"
        )
    return done


def _job_completed(world: World, namespace: str, op: str, timeout: float = 30.0) -> bool:
    """Wait until the hook Job operation ``op`` created has completed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = world.env.api.get(
            f"/apis/batch/v1/namespaces/{namespace}/jobs",
            params={"labelSelector": f"{OPERATION_LABEL}={op}"},
        ).json()["items"]
        for job in jobs:
            conditions = (job.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Complete" and c.get("status") == "True" for c in conditions):
                return True
        time.sleep(opstate.POLL_SECONDS * 2)
    return False
