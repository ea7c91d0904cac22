"""The local control plane: etcd, kube-apiserver, controller-manager, scheduler, kwok.

A real Kubernetes control plane on loopback, without containers: real
controllers create ReplicaSets and Pods, the real scheduler binds them, and
kwok plays the kubelet on fake nodes (including the failure modes in
``kwok-stages.yaml``). Its state (certificates, etcd data, logs, pids) lives
in one directory; ``down`` stops exactly the processes recorded there.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tether.testenv import (
    hostcheck,
    hostlock,
    nodecleanup,
    nodes,
    pki,
    processes,
    realnode,
    startup,
)
from tether.testenv import kubeconfig as kubeconfigs
from tether.testenv.binaries import Binaries, cache_dir
from tether.testenv.clusterstate import ClusterError, ClusterState, Component
from tether.testenv.nodebinaries import NodeBinaries

__all__ = ["ClusterError", "ClusterState", "Component", "default_dir", "down", "status", "up"]

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def default_dir() -> Path:
    return cache_dir() / "cluster"


def _marker(directory: Path) -> str:
    return str(directory.resolve())


def up(
    directory: Path | None = None,
    *,
    nodes: int = 3,
    real_nodes: int = 0,
    apiserver_port: int | None = None,
    binaries: Binaries | None = None,
    node_binaries: NodeBinaries | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
    timeout: float = 120.0,
    apiserver_flags: tuple[str, ...] = (),
) -> ClusterState:
    """Start the control plane; ``apiserver_flags`` are appended to kube-apiserver's own
    (the benchmark raises its inflight limits for 10,000 apps; tests keep the defaults)."""
    directory = (directory or default_dir()).resolve()
    existing = ClusterState.load(directory)
    if existing is not None:
        alive = [
            c.name for c in existing.components if processes.is_running(c.pid, _marker(directory))
        ]
        if alive:
            raise ClusterError(
                f"a cluster is already running from {directory} ({', '.join(alive)}); "
                f"use it with KUBECONFIG={existing.kubeconfig}, or stop it with "
                f"`tether cluster down --dir {directory}`"
            )
        raise ClusterError(
            f"stale cluster state in {directory}: its processes are gone; "
            f"clean it up with `tether cluster down --dir {directory}`"
        )
    if apiserver_port is not None and not processes.port_is_free(apiserver_port):
        raise ClusterError(
            f"port {apiserver_port} for kube-apiserver is already in use on 127.0.0.1"
        )
    bins = binaries or Binaries.locate()
    node_bins = None
    if real_nodes:
        reason = hostcheck.unsupported_reason()
        if reason:
            raise ClusterError(f"this machine cannot run real nodes: {reason}")
        node_bins = node_binaries or NodeBinaries.locate()
    if directory.exists() and any(directory.iterdir()):
        raise ClusterError(f"{directory} is not empty: choose another --dir or remove it")
    for sub in ("pki", "etcd", "logs"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    api_ips = (realnode.api_ip(directory),) if real_nodes else ()
    users = realnode.identities(real_nodes) if real_nodes else {}
    keys = pki.generate(directory / "pki", extra_ips=api_ips, users=users)
    port = apiserver_port or processes.free_port()
    state = ClusterState(
        directory=str(directory),
        server=f"https://127.0.0.1:{port}",
        kubeconfig=str(directory / "kubeconfig"),
        ca_file=str(keys.ca_cert),
        token=keys.admin_token,
        nodes=nodes,
        real_nodes=real_nodes,
    )
    _write_kubeconfig(state)
    try:
        if node_bins is not None:
            dead = realnode.take_host_lock(directory)
            if dead is not None:
                _clear_after(dead)
            realnode.prepare_network(directory, real_nodes)
        startup.start_all(state, bins, node_bins, keys, port, progress, timeout, apiserver_flags)
        if node_bins is not None:
            hostlock.started(directory)
    except realnode.RealNodeError as exc:
        down(directory, remove=False)
        raise ClusterError(str(exc)) from None
    except BaseException:
        down(directory, remove=False)
        raise
    return state


def _write_kubeconfig(state: ClusterState) -> None:
    kubeconfigs.write(
        Path(state.kubeconfig), server=state.server, ca_file=state.ca_file, token=state.token
    )


def down(directory: Path | None = None, *, remove: bool = True) -> list[str]:
    """Stop every process recorded in the state directory; returns what was stopped."""
    directory = (directory or default_dir()).resolve()
    state = ClusterState.load(directory)
    stopped: list[str] = []
    if state is not None:
        # Host-wide cleanup (iptables, bridges, sysctls) only when no other
        # cluster holds the host's real nodes: a refused `up` must not undo it.
        host = bool(state.real_nodes) and realnode.other_holder(directory) is None
        stopped = _stop(directory, state, host_cleanup=host)
    if remove and directory.exists():
        # A Pod's hostPath bind mount left under the directory would let rmtree
        # delete host files through it: refuse rather than follow it.
        left = nodecleanup.mounts_under(directory)
        if left:
            raise ClusterError(
                f"not removing {directory}: still mounted under it: {', '.join(left[:3])}"
            )
        shutil.rmtree(directory, ignore_errors=True)
    return stopped


def _stop(directory: Path, state: ClusterState, *, host_cleanup: bool) -> list[str]:
    marker = _marker(directory)
    running = {c.name for c in state.components if processes.is_running(c.pid, marker)}
    if host_cleanup:
        pids = {c.name: c.pid for c in state.components}
        nodecleanup.teardown(directory, state.real_nodes, pids)
    stopped: list[str] = []
    for comp in reversed(state.components):
        if not processes.stop(comp.pid, marker):
            raise ClusterError(f"could not stop {comp.name} (pid {comp.pid})")
        if comp.name in running:
            stopped.append(comp.name)
    return stopped


def _clear_after(dead: Path) -> None:
    """What a real-node cluster killed without ``down`` left: processes, mounts, rules.

    Its host lock has just been taken over, so the host-wide cleanup is ours to do.
    """
    state = ClusterState.load(dead)
    if state is not None and state.real_nodes:
        _stop(dead, state, host_cleanup=True)


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    running: bool
    detail: str


def status(directory: Path | None = None) -> tuple[ClusterState | None, list[ComponentStatus]]:
    directory = (directory or default_dir()).resolve()
    state = ClusterState.load(directory)
    if state is None:
        return None, []
    marker = _marker(directory)
    by_name = {c.name: c for c in state.components}
    out: list[ComponentStatus] = []
    names = list(COMPONENTS) + [c.name for c in state.components if c.name not in COMPONENTS]
    for name in names:
        comp = by_name.get(name)
        if comp is None:
            out.append(ComponentStatus(name, None, False, "not started"))
            continue
        running = processes.is_running(comp.pid, marker)
        out.append(ComponentStatus(name, comp.pid, running, "running" if running else "exited"))
    if all(c.running for c in out):
        with state.client(timeout=3) as client:
            ready = nodes.api_ready(client)
            nodes_ok = nodes.nodes_ready(client, state.nodes + state.real_nodes)
        out[1] = ComponentStatus(
            "kube-apiserver", out[1].pid, ready, "ready" if ready else "not ready"
        )
        out[4] = ComponentStatus(
            "kwok",
            out[4].pid,
            nodes_ok,
            f"{state.nodes + state.real_nodes} nodes Ready" if nodes_ok else "nodes not Ready",
        )
    return state, out
