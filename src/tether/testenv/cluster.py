"""The local control plane: etcd, kube-apiserver, controller-manager, scheduler, kwok.

A real Kubernetes control plane on loopback, without containers: real
controllers create ReplicaSets and Pods, the real scheduler binds them, and
kwok plays the kubelet on fake nodes (including the failure modes in
``kwok-stages.yaml``). Its state (certificates, etcd data, logs, pids) lives
in one directory; ``down`` stops exactly the processes recorded there.
"""

from __future__ import annotations

import functools
import json
import shutil
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from tether.testenv import (
    hostcheck,
    hostlock,
    nodecleanup,
    nodes,
    pki,
    processes,
    realnode,
)
from tether.testenv import kubeconfig as kubeconfigs
from tether.testenv.binaries import Binaries, cache_dir
from tether.testenv.nodebinaries import NodeBinaries

STAGES_FILE = Path(__file__).with_name("kwok-stages.yaml")
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


class ClusterError(RuntimeError):
    """The local control plane could not be started, reached or stopped."""


@dataclass
class Component:
    name: str
    pid: int
    log: str


@dataclass
class ClusterState:
    directory: str
    server: str
    kubeconfig: str
    ca_file: str
    token: str
    nodes: int
    components: list[Component] = field(default_factory=list)
    real_nodes: int = 0

    @property
    def path(self) -> Path:
        return Path(self.directory) / "state.json"

    def save(self) -> None:
        self.path.write_text(json.dumps(asdict(self), indent=2))
        self.path.chmod(0o600)

    @classmethod
    def load(cls, directory: Path) -> ClusterState | None:
        path = directory / "state.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["components"] = [Component(**c) for c in data.get("components", [])]
        return cls(**data)

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.server,
            verify=ssl.create_default_context(cafile=self.ca_file),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=timeout,
        )


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
) -> ClusterState:
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
            realnode.take_host_lock(directory)
            realnode.prepare_network(directory, real_nodes)
        _start_all(state, bins, node_bins, keys, port, progress, timeout)
        if node_bins is not None:
            hostlock.started(directory)
    except realnode.RealNodeError as exc:
        down(directory, remove=False)
        raise ClusterError(str(exc)) from None
    except BaseException:
        down(directory, remove=False)
        raise
    return state


def _start_all(
    state: ClusterState,
    bins: Binaries,
    node_bins: NodeBinaries | None,
    keys: pki.Pki,
    port: int,
    progress: Callable[[str], None],
    timeout: float,
) -> None:
    d = Path(state.directory)
    cp = str(bins.control_plane)
    etcd_port, peer_port = processes.free_port(), processes.free_port()
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"

    def launch(name: str, cmd: list[str], env: dict[str, str] | None = None) -> Component:
        log = d / "logs" / f"{name}.log"
        comp = Component(name=name, pid=processes.start(cmd, log, d, env), log=str(log))
        state.components.append(comp)
        state.save()
        return comp

    progress("starting etcd")
    etcd = launch(
        "etcd",
        [
            cp,
            "etcd",
            "--name=default",
            f"--data-dir={d / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--unsafe-no-fsync",
            "--log-level=warn",
            "--quota-backend-bytes=8589934592",
        ],
    )
    _wait(state, etcd, timeout, lambda: nodes.http_ok(f"{etcd_url}/health"), "etcd /health")

    progress("starting kube-apiserver")
    apiserver = launch(
        "kube-apiserver",
        [
            cp,
            "kube-apiserver",
            f"--etcd-servers={etcd_url}",
            *_apiserver_addresses(state),
            f"--secure-port={port}",
            f"--cert-dir={d / 'pki'}",
            f"--tls-cert-file={keys.serving_cert}",
            f"--tls-private-key-file={keys.serving_key}",
            f"--client-ca-file={keys.ca_cert}",
            "--service-cluster-ip-range=10.0.0.0/16",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={keys.sa_pub}",
            f"--service-account-signing-key-file={keys.sa_key}",
            f"--token-auth-file={keys.token_file}",
            *_authorization(state),
            "--allow-privileged=true",
            "--profiling=false",
            "--v=0",
            "--event-ttl=1h",
            "--disable-admission-plugins=TaintNodesByCondition",
            f"--kubelet-client-certificate={keys.kubelet_client_cert}",
            f"--kubelet-client-key={keys.kubelet_client_key}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
        ],
    )
    with state.client() as client:
        _wait(state, apiserver, timeout, lambda: nodes.api_ready(client), "kube-apiserver /readyz")
    if state.real_nodes:
        realnode.guard_apiserver(port)

    kubeconfig = state.kubeconfig
    progress("starting kube-controller-manager and kube-scheduler")
    launch(
        "kube-controller-manager",
        [
            cp,
            "kube-controller-manager",
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            f"--service-account-private-key-file={keys.sa_key}",
            f"--root-ca-file={keys.ca_cert}",
            "--use-service-account-credentials=false",
            "--controllers=*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle",
            "--concurrent-deployment-syncs=10",
            "--concurrent-replicaset-syncs=10",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
        ],
    )
    launch(
        "kube-scheduler",
        [
            cp,
            "kube-scheduler",
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
        ],
    )

    progress(f"starting kwok with {state.nodes} fake nodes")
    launch(
        "kwok",
        [
            str(bins.kwok),
            f"--kubeconfig={kubeconfig}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={nodes.NODE_ANNOTATION}=fake",
            f"--config={STAGES_FILE}",
            "--cidr=10.244.0.0/16",
            "--node-ip=10.0.0.2",
            f"--server-address=127.0.0.1:{processes.free_port()}",
        ],
    )
    with state.client() as client:
        try:
            for i in range(state.nodes):
                nodes.create_node(client, f"kwok-node-{i}")
        except nodes.NodeError as exc:
            raise ClusterError(str(exc)) from None
    if node_bins is not None and state.real_nodes:
        with state.client() as client:
            realnode.register_dns(client, realnode.api_ip(d))
        health = realnode.start(
            d,
            state.real_nodes,
            bins=node_bins,
            server=state.server,
            tokens=keys.user_tokens,
            ca_file=state.ca_file,
            launch=lambda name, cmd, env: launch(name, cmd, env).pid,
            progress=progress,
        )
        for name, url in health.items():
            _wait(state, None, timeout, functools.partial(nodes.http_ok, url), f"{name} health")
    want = state.nodes + state.real_nodes
    with state.client() as client:
        _wait(state, None, timeout, lambda: nodes.nodes_ready(client, want), f"{want} Ready nodes")
        _wait(state, None, timeout, lambda: nodes.default_sa(client), "the default ServiceAccount")
    progress("cluster ready")


def _authorization(state: ClusterState) -> list[str]:
    """RBAC; with real nodes also the Node authorizer and NodeRestriction for kubelets."""
    if not state.real_nodes:
        return ["--authorization-mode=RBAC"]
    return ["--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction"]


def _apiserver_addresses(state: ClusterState) -> list[str]:
    """Loopback only, unless real nodes run Pods that must reach the API.

    Pods reach the ``kubernetes`` Service, which points at the advertise
    address: with real nodes that is the first node's bridge address, and the
    apiserver listens on all addresses behind a firewall rule that only lets
    loopback and the nodes' bridges in (``realnode.guard_apiserver``).
    """
    if not state.real_nodes:
        return ["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"]
    ip = realnode.api_ip(Path(state.directory))
    return ["--bind-address=0.0.0.0", f"--advertise-address={ip}"]


def _wait(
    state: ClusterState,
    comp: Component | None,
    timeout: float,
    check: Callable[[], bool],
    what: str,
) -> None:
    deadline = time.monotonic() + timeout
    misses: dict[int, int] = {}
    while time.monotonic() < deadline:
        for c in state.components:
            # Our own children, seconds old: liveness by pid is enough (no pid reuse
            # yet), and a miss must repeat before a component counts as exited.
            misses[c.pid] = 0 if processes.is_running(c.pid) else misses.get(c.pid, 0) + 1
            if misses[c.pid] >= 2:
                raise ClusterError(
                    f"{c.name} exited early; last lines of {c.log}:\n"
                    + processes.log_tail(Path(c.log))
                )
        if check():
            return
        time.sleep(0.2)
    hint = f"; last lines of {comp.log}:\n{processes.log_tail(Path(comp.log))}" if comp else ""
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}{hint}")


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
        marker = _marker(directory)
        running = {c.name for c in state.components if processes.is_running(c.pid, marker)}
        # Host-wide cleanup (iptables, bridges, sysctls) only when no other
        # cluster holds the host's real nodes: a refused `up` must not undo it.
        if state.real_nodes and realnode.other_holder(directory) is None:
            pids = {c.name: c.pid for c in state.components}
            nodecleanup.teardown(directory, state.real_nodes, pids)
        for comp in reversed(state.components):
            if not processes.stop(comp.pid, marker):
                raise ClusterError(f"could not stop {comp.name} (pid {comp.pid})")
            if comp.name in running:
                stopped.append(comp.name)
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
