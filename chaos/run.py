"""One chaos run: set up, then for each fault in the plan: load, inject, recover, converge, check.

The plan is a list of fault names (``FAULTS``); the result gives, per fault
kind (a scenario), how many were injected, the time from the end of each
fault (controller restarted, API server serving, proxy healthy again, Git
back) until every app was Synced at the Git head and Healthy (p50/p95/max),
every invariant violation, and the syncs lost (operations that vanished and
apps that never converged). The aimed kills (``kill-rollback``, ``kill-hook``)
count from the controller's restart.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import AppTracker, environment, log, percentile

from chaos import hooks, invariants, invariants_git, opstate, rollback
from chaos import invariants_registry as extra
from chaos.load import LoadDriver
from chaos.ownership import Ownership
from chaos.world import Fleet, World

FAULTS = (
    "kill",
    "apiserver-restart",
    "etcd-restart",
    "api-429",
    "api-500",
    "api-timeout",
    "api-lost",
    "git-down",
    "git-slow",
    "git-errors",
    "force-push",
    "registry-down",
    "disk-full",
    "cache-deleted",
    "registry-down-kill",
    "disk-full-kill",
    "replica-kill",
    "kill-rollback",
    "kill-hook",
)
# Faults of the controller's surroundings, judged by invariants_registry as well.
OWN_CHECKS = ("registry-down", "disk-full", "cache-deleted")
# The same faults with the controller killed halfway through and started again inside them:
# a restart must find its surroundings still broken, say so, and recover once they are not.
WITH_KILL = {f"{fault}-kill": fault for fault in ("registry-down", "disk-full")}
# Kills aimed at a user's operation in a given state (chaos.opstate).
AIMED = {"kill-rollback": rollback.inject, "kill-hook": hooks.inject}
KILLS = ("kill", "replica-kill", *AIMED)


@dataclass
class Config:
    apps: int = 20
    plan: list[str] = field(default_factory=lambda: list(FAULTS))
    seed: int = 1
    load_seconds: float = 6.0  # load before each fault (a random part of it)
    episode_seconds: float = 8.0  # how long the API or Git is faulty
    converge_timeout: float = 180.0
    stable_seconds: float = 4.0
    replicas: int = 1  # more: `--shards auto` replicas with leader election
    keep_log: Path | None = None  # copy the controllers' log here at the end


def smoke_plan() -> list[str]:
    return [
        "kill",
        "apiserver-restart",
        "api-429",
        "kill",
        "etcd-restart",
        "git-down",
        "api-500",
        "force-push",
        "cache-deleted",
        "kill",
    ]


def full_plan(
    kills: int = 50, rng: random.Random | None = None, replicas: int = 1, aimed: int = 5
) -> list[str]:
    """``kills`` kills, ``aimed`` kills during a rollback and as many during a hook, and
    two of each other fault; with replicas, ``kills`` kills of one."""
    rng = rng or random.Random(1)
    others = [f for f in FAULTS if f not in KILLS] * 2
    plan = ["kill"] * kills + others + (["replica-kill"] * kills if replicas > 1 else [])
    plan += [f for f in AIMED for _ in range(aimed)]
    rng.shuffle(plan)
    return plan


def run(cfg: Config) -> dict[str, Any]:
    rng = random.Random(cfg.seed)
    started = time.monotonic()
    with environment("chaos") as env:
        if "replica-kill" in cfg.plan and cfg.replicas < 2:
            raise ValueError("replica-kill needs --replicas 2 or more")
        world = World(env, cfg.replicas)
        owners = Ownership(world.controller.log_path) if cfg.replicas > 1 else None
        hooked = hooks.hooked_apps(cfg.apps) if "kill-hook" in cfg.plan else {}
        driver = LoadDriver(env, cfg.apps, seed=cfg.seed, hooked=hooked)
        observer: invariants.Observer | None = None
        try:
            sha = driver.seed()
            tracker: AppTracker = env.tracker()
            world.controller.start()
            tracker.expect(sha)
            names = driver.create_apps()
            t0 = time.monotonic()
            if not tracker.wait(names, 300):
                raise RuntimeError(f"apps never converged at start: {tracker.summary()}")
            start_findings = owners.scan() if owners is not None else []
            first_sync = time.monotonic() - t0
            log(f"chaos: {cfg.apps} apps Synced and Healthy in {first_sync:.1f}s")
            driver.bystanders()
            kinds = {WITH_KILL.get(f, f) for f in cfg.plan}
            if "registry-down" in kinds:
                world.start_registry(cfg.apps)
            if "disk-full" in kinds:
                world.watch_disk()
            observer = invariants.Observer(env, driver.ledger, hooks=bool(hooked))
            driver.start()
            faults = [
                _one(k, fault, cfg, rng, world, driver, tracker, observer, names, owners)
                for k, fault in enumerate(cfg.plan)
            ]
            driver.running.clear()
            result = _summary(cfg, faults, first_sync, world, driver, time.monotonic() - started)
            if owners is not None:
                result["ownership"] = _owners_summary(owners, start_findings)
                result["violations"] += len(start_findings)
            return result
        finally:
            driver.close()
            if observer is not None:
                observer.close()
            world.close()
            if cfg.keep_log is not None and world.controller.log_path.exists():
                shutil.copyfile(world.controller.log_path, cfg.keep_log)


def _one(
    k: int,
    fault: str,
    cfg: Config,
    rng: random.Random,
    world: World,
    driver: LoadDriver,
    tracker: AppTracker,
    observer: invariants.Observer,
    names: list[str],
    owners: Ownership | None = None,
) -> dict[str, Any]:
    driver.running.set()
    time.sleep(rng.uniform(cfg.load_seconds / 2, cfg.load_seconds))
    record: dict[str, Any] = {"n": k + 1, "fault": fault}
    log_from = world.controller.log_size()
    during: list[str] = []  # findings while the fault lasts
    restarted: float | None = None  # an aimed kill's restart, the start of its converge time
    if fault == "kill":
        # An operation in flight when the controller dies: it must finish once, or fail.
        user = f"chaos-op-{k + 1}"
        driver.request_sync(rng.randrange(cfg.apps), user)
        driver.commit()  # and a commit, so a sync and a prune are likely under way
        time.sleep(rng.uniform(0.0, 2.5))
        at = time.monotonic()
        world.controller.kill()
        record["interrupted"] = observer.interrupted(at)
        time.sleep(rng.uniform(0.2, 1.5))
        world.controller.start()
    elif fault in AIMED:
        aimed: opstate.Injected = AIMED[fault](k, rng, world, driver, observer)
        record.update(aimed.record)
        during, restarted = aimed.violations, aimed.restarted
    elif fault == "replica-kill":
        record.update(_replica_kill(k, cfg, rng, world, driver, observer))
    elif fault in ("apiserver-restart", "etcd-restart"):
        world.restart_component(
            fault.removesuffix("-restart").replace("apiserver", "kube-apiserver")
        )
    elif fault.startswith("api-"):
        world.proxy.episode(fault.removeprefix("api-"), cfg.episode_seconds)
        # Requested syncs while the API misbehaves: each must be recorded once, or fail.
        # (One per app: a second request would replace the first before it ran.)
        for n, i in enumerate(rng.sample(range(cfg.apps), min(3, cfg.apps))):
            time.sleep(cfg.episode_seconds / 4)
            driver.request_sync(i, f"chaos-op-{k + 1}-{n}")
        time.sleep(cfg.episode_seconds / 4)
    elif fault == "git-down":
        world.git_down()
        time.sleep(cfg.episode_seconds)
        world.git_up()
    elif fault in ("git-slow", "git-errors"):
        during = _git_episode(fault, cfg, world)
    elif fault == "force-push":
        driver.force_push()
    elif fault in OWN_CHECKS or fault in WITH_KILL:
        during = _surroundings(WITH_KILL.get(fault, fault), cfg, world, record, fault in WITH_KILL)
    else:
        raise ValueError(f"unknown fault {fault}")
    ended = restarted if restarted is not None else time.monotonic()
    driver.running.clear()
    head = _settled_head(driver)
    tracker.expect(head)
    crashes: list[str] = []
    deadline = ended + cfg.converge_timeout
    while not (converged := tracker.wait(names, min(5.0, max(0.0, deadline - time.monotonic())))):
        if not world.controller.alive():
            # A controller that exits by itself is a finding: note it, start it again.
            crashes.append(f"the controller exited by itself: {world.controller.last_line()}")
            world.controller.start()
        if time.monotonic() >= deadline:
            break
    record["converge_seconds"] = round(time.monotonic() - ended, 2) if converged else None
    record["load1"] = round(os.getloadavg()[0], 2)  # the machine is shared: say how busy
    # Apps at their Git head may still hold a sync requested just before the fault
    # (a pass queued behind a 429 back-off): it must be taken up, not be judged early.
    while converged and invariants.pending_operations(world.env):
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if WITH_KILL.get(fault, fault) == "registry-down":
        during += _registry_back(record, world, deadline, ended)
    violations = crashes + invariants.check(world.env, driver.ledger, observer, cfg.apps)
    violations += during + (world.guard.take() if world.guard is not None else [])
    if WITH_KILL.get(fault, fault) in OWN_CHECKS:
        violations += extra.new_tracebacks(world.controller.log_since(log_from))
    if owners is not None:
        violations += owners.scan(time.time())
    if converged:
        violations += invariants.stable(world.env, cfg.stable_seconds)
    else:
        violations.insert(
            0, f"not converged after {cfg.converge_timeout:.0f}s: {tracker.stuck(names)}"
        )
    record["violations"] = [v for v in violations if not invariants.known(v)]
    record["known"] = [v for v in violations if invariants.known(v)]
    record["not_converged"] = 0 if converged else len(names) - len(tracker.done_at)
    log(
        f"chaos: fault {k + 1}/{len(cfg.plan)} {fault}"
        f"{' (' + record['interrupted'] + ')' if 'interrupted' in record else ''}"
        + (
            f" [{record['replica']}{' (leader)' if record['leader'] else ''}, {record['restart']}]"
            if "replica" in record
            else ""
        )
        + f": converged {record['converge_seconds']}s, {len(record['violations'])} violations"
        + (f": {record['violations'][:3]}" if record["violations"] else "")
        + (f", known: {record['known'][:2]}" if record["known"] else "")
    )
    return record


def _replica_kill(
    k: int,
    cfg: Config,
    rng: random.Random,
    world: World,
    driver: LoadDriver,
    observer: invariants.Observer,
) -> dict[str, Any]:
    """SIGKILL one replica (the leader when the dice say so), with a sync requested and a
    commit under way; it comes back as the same Pod (a container restart: it takes its
    own Lease again) or as a new Pod (the old Lease must expire before its apps move)."""
    fleet = world.controller
    assert isinstance(fleet, Fleet)
    user = f"chaos-op-{k + 1}"
    driver.request_sync(rng.randrange(cfg.apps), user)
    driver.commit()
    time.sleep(rng.uniform(0.0, 2.5))
    head = world.leader_name()
    victim = rng.choice(fleet.replicas)
    if head is not None and rng.random() < 0.4:
        victim = next((r for r in fleet.replicas if r.identity == head), victim)
    was = victim.identity
    at = time.monotonic()
    victim.kill()
    interrupted = observer.interrupted(at)
    time.sleep(rng.uniform(0.2, 1.5))
    how = "restarted"
    if rng.random() < 0.5:
        fleet.replace(victim)
        how = f"replaced by {victim.identity}"
    victim.start()
    return {
        "interrupted": interrupted,
        "replica": was,
        "leader": was == head,
        "restart": how,
    }


def _owners_summary(owners: Ownership, at_start: list[str]) -> dict[str, Any]:
    gaps = sorted(owners.gaps)
    return {
        "ownership_changes": owners.changes,
        "reowned_apps": len(gaps),
        "reown_p50_seconds": percentile(gaps, 0.5),
        "reown_max_seconds": round(gaps[-1], 2) if gaps else None,
        "reown_limit_seconds": owners.limit,
        "violations_at_start": at_start,
    }


def _settled_head(driver: LoadDriver) -> str:
    """The Git head once the load has stopped: a commit already waiting for the driver's
    lock (behind a force-push, say) still lands after ``running`` is cleared, and judging
    the apps against the head before it would wait for a revision Git has moved past."""
    with driver._busy:
        head = driver.ledger.head
    while True:
        time.sleep(0.3)
        with driver._busy:
            if driver.ledger.head == head:
                return head
            head = driver.ledger.head


def _git_episode(fault: str, cfg: Config, world: World) -> list[str]:
    """The Git proxy slow (a tarpit, held past the Git idle timeout) or answering garbage;
    by the end every app must name the failure in its ComparisonError."""
    proxy = world.git_proxy
    proxy.fault(fault.removeprefix("git-"))
    try:
        # A tarpit is only felt once a fetch has waited the idle timeout out.
        time.sleep(cfg.episode_seconds + (proxy.hold if fault == "git-slow" else 0.0))
        return invariants_git.explained_within(world.env, cfg.apps, f"127.0.0.1:{proxy.port}", 10.0)
    finally:
        proxy.heal()


def _surroundings(
    fault: str, cfg: Config, world: World, record: dict[str, Any], kill: bool = False
) -> list[str]:
    """Inject a registry or cache-disk fault for an episode; what was wrong meanwhile.

    With ``kill`` the controller is killed halfway through the episode and started
    again while the fault lasts (``record`` says what the kill interrupted)."""

    def episode() -> None:
        if not kill:
            time.sleep(cfg.episode_seconds)
            return
        time.sleep(cfg.episode_seconds / 2)
        world.controller.kill()
        record["interrupted"] = "killed and restarted inside the fault"
        time.sleep(0.5)
        world.controller.start()
        time.sleep(cfg.episode_seconds / 2)

    if fault == "cache-deleted":
        world.disk.delete()  # commits keep coming: they must be fetched into a new cache
        episode()
        return []
    if fault == "disk-full":
        assert world.witness is not None
        world.witness.start()
        world.disk.fill()
        try:
            episode()
        finally:
            found = world.witness.stop()
            world.disk.free()
        return found
    side = world.registry
    assert side is not None
    side.down()
    try:
        episode()
        # A refresh is due every few seconds: by now each credential must say why it fails.
        found = extra.outage_explained(side)
        give_up = time.monotonic() + 6.0
        while found and time.monotonic() < give_up:
            time.sleep(0.5)
            found = extra.outage_explained(side)
    finally:
        side.up()
    return found


def _registry_back(
    record: dict[str, Any], world: World, deadline: float, ended: float
) -> list[str]:
    """Refresh resumes: every credential refreshed, without error, since the outage began
    (counted in the time to converge)."""
    side = world.registry
    assert side is not None and side.last_down is not None
    if side.wait_refreshed(side.last_down, max(10.0, deadline - time.monotonic())):
        if record["converge_seconds"] is not None:
            record["converge_seconds"] = max(
                record["converge_seconds"], round(time.monotonic() - ended, 2)
            )
        return []
    record["converge_seconds"] = None
    behind = side.refreshed_since(side.last_down)
    return [f"registry credentials not refreshed since the outage: {', '.join(behind[:5])}"]


def _summary(
    cfg: Config,
    faults: list[dict[str, Any]],
    first_sync: float,
    world: World,
    driver: LoadDriver,
    wall: float,
) -> dict[str, Any]:
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in faults:
        by_kind[f["fault"]].append(f)
    scenarios = {}
    for kind, runs in by_kind.items():
        times = [r["converge_seconds"] for r in runs if r["converge_seconds"] is not None]
        violations = [v for r in runs for v in r["violations"]]
        # A missing entry stays missing until the next deploy: count each once.
        known = list(dict.fromkeys(v for r in runs for v in r.get("known", [])))
        scenarios[kind] = {
            "faults": len(runs),
            "converge_p50_seconds": percentile(times, 0.5),
            "converge_p95_seconds": percentile(times, 0.95),
            "converge_max_seconds": round(max(times), 2) if times else None,
            "violations": len(violations),
            "violation_examples": violations[:5],
            "known_issues": len(known),
            "known_examples": known[:3],
            "syncs_lost": sum(r["not_converged"] for r in runs)
            + sum(1 for v in violations if "vanished" in v or "still pending" in v),
        }
        if kind == "replica-kill":
            scenarios[kind]["leader_kills"] = sum(1 for r in runs if r.get("leader"))
            scenarios[kind]["replaced"] = sum(1 for r in runs if r["restart"] != "restarted")
        if kind in KILLS:
            scenarios[kind]["interrupted"] = dict(
                sorted(
                    (what, sum(1 for r in runs if r.get("interrupted") == what))
                    for what in {r.get("interrupted") for r in runs}
                )
            )
    return {
        "apps": cfg.apps,
        "replicas": cfg.replicas,
        "plan_size": len(cfg.plan),
        "seed": cfg.seed,
        "wall_seconds": round(wall, 1),
        "first_sync_seconds": round(first_sync, 1),
        "commits": driver.ledger.commits,
        "drifts": driver.ledger.drifts,
        "operations": len(driver.ledger.operations),
        "controller_starts": world.controller.starts,
        "proxy": dict(world.proxy.counts),
        "git_proxy": dict(world.git_proxy.counts),
        "controller_errors": world.controller.errors(),
        "load_average": [round(x, 2) for x in os.getloadavg()],  # 1, 5, 15 min at the end
        "scenarios": scenarios,
        "faults": faults,
        "violations": sum(s["violations"] for s in scenarios.values()),
        "syncs_lost": sum(s["syncs_lost"] for s in scenarios.values()),
    }
