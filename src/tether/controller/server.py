"""Run the controller, optionally with an HTTP surface built by the caller."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from tether.adapters.kube import KubeClient
from tether.controller import heap_trim, leader, own_loop, sharding
from tether.controller.install import is_cluster_admin
from tether.controller.reconciler import Settings
from tether.controller.runtime import Controller
from tether.controller.service import AppService
from tether.testenv.binaries import cache_dir

log = logging.getLogger(__name__)


class ClusterAdminRefused(RuntimeError):
    """The controller was started with cluster-admin rights and no explicit opt-in."""


Surface = Callable[[Controller, AppService], Coroutine[Any, Any, None]]


async def run(
    *,
    kubeconfig: str | None,
    namespace: str,
    poll_interval: float,
    workers: int,
    helm_path: str | None,
    stop: asyncio.Event,
    surface: Surface | None = None,
    cache: Path | None = None,
    registry_credentials: bool = True,
    allow_cluster_admin: bool = False,
    allow_local_repos: bool = False,
    leader_elect: bool = False,
    lease_timing: leader.LeaseTiming | None = None,
    shards: str = "1",
    shard_timing: leader.LeaseTiming | None = None,
) -> None:
    """Run until ``stop``. With ``leader_elect`` only the Lease holder reconciles;
    every replica serves the surface from its own live cache. With ``shards="auto"``
    the replicas split the Applications (``sharding.py``) and the Lease holder runs
    only the singleton reconcilers (registry credentials, ApplicationSets, image
    automation, notifications)."""
    kube = KubeClient.from_kubeconfig(kubeconfig)
    if not allow_cluster_admin and await is_cluster_admin(kube):
        await kube.close()
        raise ClusterAdminRefused(
            "refusing to run as cluster-admin: anyone who can push to a watched repository "
            "would act with these rights. Run as the ServiceAccount `tether install` creates "
            f"(tether-controller in namespace {namespace}), or pass --allow-cluster-admin."
        )
    controller = Controller(
        kube,
        settings=Settings(app_namespace=namespace, poll_interval=poll_interval),
        cache_dir=cache or cache_dir(),
        helm_path=helm_path,
        workers=workers,
        registry_credentials=registry_credentials,
        allow_local_repos=allow_local_repos,
    )
    service = AppService(kube, controller.reconciler, controller=controller, namespace=namespace)
    member: sharding.ShardMember | None = None
    if shards == "auto":
        leader_elect = True
        member = sharding.ShardMember(
            kube,
            namespace,
            apps=controller.shard_apps,
            timing=shard_timing,
            on_gained=controller.gained,
            on_lost=controller.drop_unowned,
        )
        controller.shard = member
    await controller.start(lead=not leader_elect)
    log.info("controller started: watching Applications in namespace %s", namespace)
    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
    # Not among ``tasks``: without malloc_trim it ends at once, which must not stop the controller.
    trimmer = asyncio.create_task(heap_trim.trim_forever(), name="heap-trim")
    if member is not None:
        controller.reconcile_apps()
        log.info("sharding: %s joins the ring (Lease %s)", member.identity, member.lease_name)
        tasks.append(asyncio.create_task(member.run(), name="shard-member"))
    elector: leader.LeaderElector | None = None
    if leader_elect:
        elector = leader.LeaderElector(kube, namespace, timing=lease_timing)
        log.info("leader election: %s contends for the Lease", elector.identity)
        tasks.append(asyncio.create_task(_elect(elector, controller), name="leader-election"))
    if surface is not None:
        tasks.append(asyncio.create_task(surface(controller, service)))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in [*tasks, trimmer]:
            task.cancel()
        await asyncio.gather(*tasks, trimmer, return_exceptions=True)
        await controller.stop()  # stop reconciling before anyone else may start
        if member is not None:
            await member.release()
        if elector is not None:
            await elector.release()
        await kube.close()


async def _elect(elector: leader.LeaderElector, controller: Controller) -> None:
    """Run ``elector`` on a thread and a connection of its own (``own_loop.py``: a busy
    controller must not lose its Lease for being busy); leading and following happen
    on the controller's loop."""
    here = asyncio.get_running_loop()

    async def contend(kube: KubeClient) -> None:
        own = leader.LeaderElector(
            kube,
            elector.namespace,
            name=elector.name,
            identity=elector.identity,
            timing=elector.timing,
            on_started=own_loop.on_loop(here, controller.lead),
            on_stopped=own_loop.on_loop(here, controller.follow),
        )
        await own.run()

    await own_loop.OwnLoop(elector.kube.conn, "leader-election").run(contend)
