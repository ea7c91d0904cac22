"""Starting the local control plane's components in order, each waited for.

etcd, then kube-apiserver, controller-manager, scheduler and kwok, then real
nodes if asked: every component is launched as a recorded child process, and
a wait fails fast, with the log tail, when any recorded component exits.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

from tether.testenv import nodes, pki, processes, realnode
from tether.testenv.binaries import Binaries
from tether.testenv.clusterstate import ClusterError, ClusterState, Component
from tether.testenv.nodebinaries import NodeBinaries

STAGES_FILE = Path(__file__).with_name("kwok-stages.yaml")


def start_all(
    state: ClusterState,
    bins: Binaries,
    node_bins: NodeBinaries | None,
    keys: pki.Pki,
    port: int,
    progress: Callable[[str], None],
    timeout: float,
    apiserver_flags: tuple[str, ...] = (),
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
    wait_for(state, etcd, timeout, lambda: nodes.http_ok(f"{etcd_url}/health"), "etcd /health")

    progress("starting kube-apiserver")
    apiserver = launch(
        "kube-apiserver",
        [
            cp,
            "kube-apiserver",
            f"--etcd-servers={etcd_url}",
            *apiserver_addresses(state),
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
            *authorization(state),
            "--allow-privileged=true",
            "--profiling=false",
            "--v=0",
            "--event-ttl=1h",
            "--disable-admission-plugins=TaintNodesByCondition",
            f"--kubelet-client-certificate={keys.kubelet_client_cert}",
            f"--kubelet-client-key={keys.kubelet_client_key}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            *apiserver_flags,
        ],
    )
    with state.client() as client:
        wait_for(
            state, apiserver, timeout, lambda: nodes.api_ready(client), "kube-apiserver /readyz"
        )
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
            wait_for(state, None, timeout, functools.partial(nodes.http_ok, url), f"{name} health")
    want = state.nodes + state.real_nodes
    with state.client() as client:
        wait_for(
            state, None, timeout, lambda: nodes.nodes_ready(client, want), f"{want} Ready nodes"
        )
        wait_for(
            state, None, timeout, lambda: nodes.default_sa(client), "the default ServiceAccount"
        )
    progress("cluster ready")


def authorization(state: ClusterState) -> list[str]:
    """RBAC; with real nodes also the Node authorizer and NodeRestriction for kubelets."""
    if not state.real_nodes:
        return ["--authorization-mode=RBAC"]
    return ["--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction"]


def apiserver_addresses(state: ClusterState) -> list[str]:
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


def wait_for(
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
