"""The clusters Applications deploy to: one client and one live cache each.

Clusters are registered as Secrets in the app namespace (Argo CD's format,
see ``engine.clusters``). ``ClusterPool.for_destination`` gives the
connection an Application's destination picks: the controller's own for the
cluster Tether runs in, and for any other a client and a watch-based live
cache made on first use and closed after ``idle_after`` seconds without one.
A Secret whose settings change (a rotated token) gets a new client.

A cluster that does not answer raises ``Unreachable`` for its own apps only;
it is asked again at most every ``retry_after`` seconds, so its apps wait
without slowing the others, and the first answer after an outage brings them
back without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from tether.adapters.kube import ApiError, KubeClient, cluster_config
from tether.adapters.kube.config import ConfigError
from tether.adapters.kube.exec_credentials import ExecCredentialError
from tether.controller import status as st
from tether.controller.compare import DryRunCache
from tether.controller.live_cache import ChangeHandler, LiveCache
from tether.controller.passes import Pass, Stop
from tether.controller.registry.policy import PolicySource
from tether.engine import application as appmodel
from tether.engine import clusters as model
from tether.engine.objects import Obj
from tether.engine.registry import policy as policies

if TYPE_CHECKING:
    from tether.controller.sync_step import Syncer

log = logging.getLogger(__name__)

CONDITION = "ClusterUnreachable"
SECRETS_TTL = 10.0
IDLE_AFTER = 600.0
RETRY_AFTER = 10.0
# A pass can finish from the live cache and cached dry runs alone: the cluster is
# asked for its version when it has not answered for this long, so an outage
# shows even on apps with nothing to change.
CHECK_EVERY = 5.0
PROBE_TIMEOUT = 10.0


FIRST_LIST_TIMEOUT = 60.0


class RemoteLiveCache(LiveCache):
    """A live cache of another cluster: waiting for the first list of a kind is
    bounded, so a pass for a cluster that stopped answering ends (as a transport
    error: ``ClusterUnreachable``) instead of holding its worker until it answers."""

    async def ensure_kinds(self, kinds: Iterable[tuple[str, str]], *, wait: bool = True) -> None:
        try:
            async with asyncio.timeout(FIRST_LIST_TIMEOUT):
                await super().ensure_kinds(kinds, wait=wait)
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"no first list of its objects within {FIRST_LIST_TIMEOUT:.0f}s"
            ) from None


class Unreachable(Exception):
    """The destination cluster cannot be used now; the message says which and why."""


@dataclass
class Connection:
    cluster: model.Cluster
    kube: KubeClient
    live: LiveCache
    version: str = ""
    checked_at: float = float("-inf")
    last_used: float = field(default_factory=time.monotonic)
    fingerprint: str = ""
    # Per-cluster state of the reconcile: the Syncer bound to this client and
    # cache, and dry-run answers (an object key means another object there).
    syncer: Syncer | None = None
    dry_runs: DryRunCache | None = None

    @property
    def in_cluster(self) -> bool:
        return self.cluster.in_cluster


async def version_of(kube: KubeClient) -> str:
    async with asyncio.timeout(PROBE_TIMEOUT):
        info = await kube.request("GET", "/version")
    return str((info or {}).get("gitVersion", ""))


def describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})" if str(exc) else "cannot connect"
    return str(exc) or type(exc).__name__


class ClusterPool:
    def __init__(
        self,
        kube: KubeClient,
        live: LiveCache,
        app_namespace: str,
        on_change: ChangeHandler,
        *,
        idle_after: float = IDLE_AFTER,
        retry_after: float = RETRY_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.home = Connection(model.IN_CLUSTER_ENTRY, kube, live)
        # Whoever may write Secrets in the app namespace may register a cluster: a
        # kubeconfig exec plugin in it runs only what the administrator's exec
        # allow-list (the registry policy ConfigMap) names, as for RegistryCredentials.
        self.exec_policy = PolicySource(kube, app_namespace)
        self.app_namespace = app_namespace
        self.on_change = on_change
        self.idle_after = idle_after
        self.retry_after = retry_after
        self._clock = clock
        self._secrets: tuple[float, list[model.Cluster]] = (-1e9, [])
        self._open: dict[str, Connection] = {}
        self._failed: dict[str, tuple[float, str]] = {}  # server -> (when, why)
        self._lock = asyncio.Lock()
        self._swept = clock()

    # -- registered clusters ------------------------------------------------
    async def registered(self, *, fresh: bool = False) -> list[model.Cluster]:
        """Clusters from labelled Secrets (listed at most every few seconds)."""
        now = self._clock()
        if fresh or now - self._secrets[0] > SECRETS_TTL:
            api = await self.home.kube.resource_for("v1", "Secret")
            items, _ = await self.home.kube.list(
                api,
                self.app_namespace,
                label_selector=f"{model.SECRET_TYPE_LABEL}={model.SECRET_TYPE}",
            )
            found = []
            for secret in items:
                try:
                    found.append(model.from_secret(secret))
                except model.ClusterSecretError as exc:
                    log.warning("%s", exc)
            self._secrets = (now, found)
        return self._secrets[1]

    # -- the reconcile's interface ------------------------------------------------
    async def route(self, p: Pass) -> None:
        """Set ``p.cluster`` to the destination's connection, or stop the pass:
        ``InvalidSpec`` for a cluster nobody registered, ``ClusterUnreachable``
        (sync and health Unknown) for one that does not answer."""
        assert p.spec is not None
        await self._sweep()
        dest = p.spec.destination
        try:
            p.cluster = await self.for_destination(dest.server, dest.name)
        except model.UnknownCluster as exc:
            raise Stop("InvalidSpec", f"Application {p.name}: {exc}") from None
        except Unreachable as exc:
            unknown(p, str(exc))
            raise Stop(CONDITION, str(exc)) from None
        st.set_condition(p.status, CONDITION, None)

    async def for_app(self, app: Obj) -> Connection | None:
        """The connection of a (parsable) app's destination when it is another
        cluster, else None; raises Unreachable."""
        try:
            dest = appmodel.parse_spec(app.get("spec") or {}).destination
        except appmodel.SpecError:
            return None
        if dest.server == model.IN_CLUSTER:
            return None
        try:
            conn = await self.for_destination(dest.server, dest.name)
        except model.UnknownCluster as exc:
            raise Unreachable(str(exc)) from None
        return None if conn.in_cluster else conn

    def as_stop(self, p: Pass, caught: BaseException) -> Stop:
        """A Stop for what ended the pass: a transport error talking to another
        cluster marks that cluster unreachable; at home it is raised as before."""
        if isinstance(caught, Stop):
            return caught
        conn = p.cluster
        if conn is None or conn.in_cluster:
            raise caught
        message = str(self.mark_unreachable(conn, caught))
        unknown(p, message)
        return Stop(CONDITION, message)

    async def _sweep(self) -> None:
        if self._clock() - self._swept > min(self.idle_after, 60.0):
            self._swept = self._clock()
            for server in await self.drop_idle():
                log.info("closed the idle connection to %s", server)

    # -- connections ----------------------------------------------------------
    async def for_destination(self, server: str, name: str) -> Connection:
        """The connection for a destination; raises Unreachable (or UnknownCluster)."""
        if (not server and (not name or name == model.IN_CLUSTER_NAME)) or (
            server.rstrip("/") == model.IN_CLUSTER
        ):
            return self.home
        cluster = model.for_destination(server, name, await self.registered())
        if cluster.in_cluster:
            return self.home
        return await self.connect(cluster)

    async def connect(self, cluster: model.Cluster) -> Connection:
        now = self._clock()
        failed = self._failed.get(cluster.server)
        if failed is not None and now - failed[0] < self.retry_after:
            raise Unreachable(f"cluster {cluster.name} ({cluster.server}): {failed[1]}")
        async with self._lock:
            conn = self._open.get(cluster.server)
            if conn is not None and conn.fingerprint != cluster.fingerprint():
                await self._close(cluster.server)
                conn = None
            if conn is None:
                conn = await self._open_connection(cluster)
            elif failed is not None or now - conn.checked_at > CHECK_EVERY:
                await self._probe(conn)
        conn.last_used = now
        return conn

    async def _open_connection(self, cluster: model.Cluster) -> Connection:
        refused = await self._exec_refusals(cluster)
        if refused:
            self._failed[cluster.server] = (self._clock(), refused)
            raise Unreachable(f"cluster {cluster.name} ({cluster.server}): {refused}")
        try:
            settings = cluster_config.connection(cluster.server, cluster.config)
            # The client may run an exec plugin as it starts: not on the event loop.
            kube = await asyncio.to_thread(KubeClient, settings)
        except (ConfigError, ExecCredentialError) as exc:
            self._failed[cluster.server] = (self._clock(), str(exc))
            raise Unreachable(f"cluster {cluster.name} ({cluster.server}): {exc}") from None
        # The client holds the certificates in memory now: key material from a
        # Secret is not left on disk (a connection is made again after idling).
        for name in (settings.ca_file, settings.cert_file, settings.key_file):
            if name:
                with contextlib.suppress(OSError):
                    os.unlink(name)
        conn = Connection(
            cluster,
            kube,
            RemoteLiveCache(kube, self.on_change),
            fingerprint=cluster.fingerprint(),
            dry_runs=DryRunCache(),
        )
        try:
            await self._probe(conn)
        except Unreachable:
            await conn.live.close()
            await kube.close()
            raise
        self._open[cluster.server] = conn
        return conn

    async def _exec_refusals(self, cluster: model.Cluster) -> str:
        plugin = cluster.config.get("execProviderConfig")
        if not isinstance(plugin, dict):
            return ""
        env = plugin.get("env") or {}
        names = (
            [str(k) for k in env]
            if isinstance(env, dict)
            else [str((e or {}).get("name", "")) for e in env if isinstance(e, dict)]
        )
        found = policies.exec_refusals(
            str(plugin.get("command") or ""),
            names,
            await self.exec_policy.load(),
            field=f"Secret {cluster.secret}: execProviderConfig",
        )
        return policies.refusal_message(found) if found else ""

    async def _probe(self, conn: Connection) -> None:
        try:
            conn.version = await version_of(conn.kube)
        except (httpx.HTTPError, ApiError, OSError, ExecCredentialError, TimeoutError) as exc:
            why = describe(exc)
            self._failed[conn.cluster.server] = (self._clock(), why)
            raise Unreachable(
                f"cluster {conn.cluster.name} ({conn.cluster.server}): {why}"
            ) from None
        self._failed.pop(conn.cluster.server, None)
        conn.checked_at = self._clock()

    def mark_unreachable(self, conn: Connection, exc: BaseException) -> Unreachable:
        """Record that a request to ``conn`` failed at the transport level; its apps
        wait ``retry_after`` before the cluster is asked again."""
        why = describe(exc)
        self._failed[conn.cluster.server] = (self._clock(), why)
        return Unreachable(f"cluster {conn.cluster.name} ({conn.cluster.server}): {why}")

    async def drop_idle(self) -> list[str]:
        """Close connections no app has used for ``idle_after`` seconds."""
        now = self._clock()
        idle = [s for s, c in self._open.items() if now - c.last_used > self.idle_after]
        async with self._lock:
            for server in idle:
                await self._close(server)
        return idle

    async def _close(self, server: str) -> None:
        conn = self._open.pop(server, None)
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.live.close()
        with contextlib.suppress(Exception):
            await conn.kube.close()

    async def close(self) -> None:
        for server in list(self._open):
            await self._close(server)

    def open_servers(self) -> list[str]:
        return sorted(self._open)


def unknown(p: Pass, message: str) -> None:
    """What a pass knows of an app whose cluster does not answer: nothing."""
    p.status["sync"] = {
        "status": "Unknown",
        "revision": p.sha or (p.status.get("sync") or {}).get("revision", ""),
    }
    p.status["health"] = {"status": "Unknown", "message": message}


def unknown_while_unreachable(p: Pass) -> None:
    """Health drawn from the cache of a cluster that does not answer is stale."""
    cond = st.condition(p.status, CONDITION)
    if cond:
        unknown(p, str(cond.get("message", "")))


async def overview(
    kube: KubeClient, app_namespace: str, apps: list[Obj]
) -> list[dict[str, object]]:
    """Each cluster (the one Tether runs in first) with reachability, version and
    app count, probing each once; for ``tether clusters list`` and the API."""
    pool = ClusterPool(kube, LiveCache(kube, lambda _t, _o: None), app_namespace, lambda *_: None)
    registered = await pool.registered(fresh=True)
    entries = [model.for_destination(model.IN_CLUSTER, "", registered)]
    entries += [c for c in registered if not c.in_cluster]
    counts: dict[str, int] = {}
    for app in apps:
        dest = (app.get("spec") or {}).get("destination") or {}
        try:
            picked = model.for_destination(
                str(dest.get("server") or ""), str(dest.get("name") or ""), registered
            )
        except model.UnknownCluster:
            continue
        counts[picked.server] = counts.get(picked.server, 0) + 1

    async def probe(cluster: model.Cluster) -> dict[str, object]:
        row: dict[str, object] = {
            "name": cluster.name,
            "server": cluster.server,
            "secret": cluster.secret,
            "apps": counts.get(cluster.server, 0),
        }
        try:
            if cluster.in_cluster:
                row["version"] = await version_of(kube)
            else:
                row["version"] = (await pool.connect(cluster)).version
            row["reachable"], row["message"] = True, ""
        except Unreachable as exc:
            row["reachable"], row["version"], row["message"] = False, "", str(exc)
        except (httpx.HTTPError, ApiError, TimeoutError) as exc:
            row["reachable"], row["version"], row["message"] = False, "", describe(exc)
        return row

    try:
        return list(await asyncio.gather(*(probe(c) for c in entries)))
    finally:
        await pool.close()
