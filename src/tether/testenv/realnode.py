"""Real nodes beside the kwok ones: containerd, kubelet, kube-proxy and CoreDNS.

kwok pretends; a real node runs containers. Each real node gets its own
containerd 2 (runc from Debian, CNI bridge + host-local on its own bridge and
Pod subnet) and its own kubelet; the cluster gets one kube-proxy in iptables
mode and one CoreDNS, all in the host network namespace. Because iptables and
the Pod subnets are per network namespace, only one cluster with real nodes
runs on a host at a time; a lock file in /run names it, and a second
``up --real-nodes`` says which cluster holds it.

No image is pulled from the internet: the pause image is built here from a
static binary and imported with ``ctr``. ``nodecleanup`` undoes all of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tether.testenv import hostcheck, hostlock, kubeconfig, nodeconfig, ociarchive, processes
from tether.testenv.nodebinaries import NodeBinaries

LOCK_FILE = hostlock.LOCK_FILE
GUARD_CHAIN = "TETHER-APISERVER"
K8S_NAMESPACE = "k8s.io"

Launch = Callable[[str, list[str], dict[str, str]], int]


class RealNodeError(RuntimeError):
    """A real node could not be prepared or started."""


def node_env(bins: NodeBinaries) -> dict[str, str]:
    path = f"{bins.containerd_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return dict(os.environ, PATH=path)


def layouts(cluster_dir: Path, count: int) -> list[nodeconfig.NodeLayout]:
    return [nodeconfig.NodeLayout(cluster_dir, i) for i in range(count)]


def _run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 60) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RealNodeError(f"`{' '.join(cmd)}` failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def other_holder(cluster_dir: Path) -> str | None:
    """The directory of another live cluster holding this host's real nodes, if any."""
    return hostlock.holder(exclude=cluster_dir)


def take_host_lock(cluster_dir: Path) -> Path | None:
    """Refuse a second real-node cluster on this host; a stale lock is taken over.

    Returns the directory of the dead cluster whose lock was taken, if any.
    """
    if len(str(nodeconfig.NodeLayout(cluster_dir, 0).socket)) + len(".ttrpc") > 100:
        raise RealNodeError(
            f"{cluster_dir} is too long a path for containerd's unix sockets; "
            "choose a shorter --dir"
        )
    try:
        return hostlock.take(cluster_dir)
    except hostlock.HostHeld as exc:
        raise RealNodeError(str(exc)) from None


def release_host_lock(cluster_dir: Path) -> None:
    hostlock.release(cluster_dir)


# Kernel settings the kubelet (its defaults) and the CNI bridge (forwarding) change;
# saved at up and written back at down.
HOST_SYSCTLS = (
    "net/ipv4/ip_forward",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)


def _save_sysctls(cluster_dir: Path) -> None:
    saved = {}
    for key in HOST_SYSCTLS:
        path = Path("/proc/sys", key)
        if path.exists():
            saved[key] = path.read_text().strip()
    (cluster_dir / "host-sysctls.json").write_text(json.dumps(saved))


def api_ip(cluster_dir: Path) -> str:
    """The address Pods use for the API (the ``kubernetes`` Service's endpoint)."""
    return nodeconfig.NodeLayout(cluster_dir, 0).ip


def prepare_network(cluster_dir: Path, count: int) -> None:
    """The nodes' bridges, made before the apiserver so it can advertise the first one."""
    for node in layouts(cluster_dir, count):
        _make_bridge(node)


def guard_apiserver(port: int) -> None:
    """Only loopback and the nodes' bridges may reach the apiserver's port.

    The chain is ``TETHER-APISERVER`` in IPv4 and IPv6 filter tables;
    ``nodecleanup`` removes it with the rest of the cluster's rules. A chain
    already there was left by a cluster that died without ``down`` (the host
    lock says no live cluster holds it), so it is replaced, not refused.
    """
    for tool in ("iptables", "ip6tables"):
        _drop_stale_guard(tool)
        for rule in (
            ["-N", GUARD_CHAIN],
            ["-A", GUARD_CHAIN, "-i", "lo", "-j", "RETURN"],
            ["-A", GUARD_CHAIN, "-i", "tether-br+", "-j", "RETURN"],
            ["-A", GUARD_CHAIN, "-j", "DROP"],
            ["-I", "INPUT", "-p", "tcp", "--dport", str(port), "-j", GUARD_CHAIN],
        ):
            _run([tool, "-w", "-t", "filter", *rule])


def _drop_stale_guard(tool: str) -> None:
    listing = subprocess.run(
        [tool, "-w", "-t", "filter", "-S"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    if f"-N {GUARD_CHAIN}" not in listing:
        return
    for rule in listing:
        fields = rule.split()
        if fields[:2] == ["-A", "INPUT"] and fields[-2:] == ["-j", GUARD_CHAIN]:
            _run([tool, "-w", "-t", "filter", "-D", *fields[1:]])
    _run([tool, "-w", "-t", "filter", "-F", GUARD_CHAIN])
    _run([tool, "-w", "-t", "filter", "-X", GUARD_CHAIN])


KUBE_PROXY_USER = "system:kube-proxy"  # bound to system:node-proxier by the default RBAC
COREDNS_USER = "system:tether:coredns"
COREDNS_RBAC: list[dict[str, Any]] = [
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "system:tether:coredns"},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["endpoints", "services", "pods", "namespaces"],
                "verbs": ["list", "watch"],
            },
            {
                "apiGroups": ["discovery.k8s.io"],
                "resources": ["endpointslices"],
                "verbs": ["list", "watch"],
            },
        ],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "system:tether:coredns"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:tether:coredns",
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": COREDNS_USER}
        ],
    },
]


def node_user(index: int) -> str:
    return f"system:node:{nodeconfig.NodeLayout(Path('/'), index).name}"


def identities(count: int) -> dict[str, str]:
    """User -> group of every node component: no component runs with the admin token."""
    users = {node_user(i): "system:nodes" for i in range(count)}
    return {**users, KUBE_PROXY_USER: "", COREDNS_USER: ""}


def register_dns(client: httpx.Client, coredns_ip: str) -> None:
    """``kube-system/kube-dns`` at the usual ClusterIP, its endpoint the host's CoreDNS.

    Pods get ``nameserver 10.0.0.10`` as on a kubeadm cluster; kube-proxy
    sends it to CoreDNS, which runs as a host process on the first bridge.
    """
    ports = [
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
    ]
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "labels": {"k8s-app": "kube-dns"}},
        "spec": {
            "clusterIP": nodeconfig.DNS_SERVICE_IP,
            "ports": [{**p, "targetPort": 53} for p in ports],
        },
    }
    slice_: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kube-dns-coredns",
            "labels": {
                "kubernetes.io/service-name": "kube-dns",
                "endpointslice.kubernetes.io/managed-by": "testenv.tether.dev",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [coredns_ip], "conditions": {"ready": True}}],
        "ports": ports,
    }
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    for path, obj in (
        ("/api/v1/namespaces/kube-system/services", service),
        ("/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices", slice_),
        (f"{rbac}/clusterroles", COREDNS_RBAC[0]),
        (f"{rbac}/clusterrolebindings", COREDNS_RBAC[1]),
    ):
        resp = client.post(path, json=obj)
        if resp.status_code not in (201, 409):
            raise RealNodeError(f"could not create {obj['kind']} for DNS: {resp.text[:300]}")


def _make_bridge(node: nodeconfig.NodeLayout) -> None:
    subprocess.run(["ip", "link", "del", node.bridge], capture_output=True, check=False)
    _run(["ip", "link", "add", node.bridge, "type", "bridge"])
    _run(["ip", "addr", "add", f"{node.ip}/24", "dev", node.bridge])
    _run(["ip", "link", "set", node.bridge, "up"])


def _make_cgroups(node: nodeconfig.NodeLayout) -> None:
    for root in hostcheck.cgroup_roots():
        (root / node.cgroup_root.lstrip("/")).mkdir(exist_ok=True)


def pause_archive(bins: NodeBinaries) -> Path:
    target = bins.pause.with_name("pause-image.tar")
    if not target.exists():
        ociarchive.write_archive(ociarchive.pause_image(bins.pause, nodeconfig.PAUSE_REF), target)
    return target


def import_image(node: nodeconfig.NodeLayout, bins: NodeBinaries, archive: Path) -> None:
    """Import an OCI archive into the node's containerd, where the kubelet finds it."""
    _run(
        [
            str(bins.ctr),
            f"--address={node.socket}",
            f"--namespace={K8S_NAMESPACE}",
            "images",
            "import",
            str(archive),
        ],
        env=node_env(bins),
        timeout=120,
    )


def trust_plain_http_registry(node: nodeconfig.NodeLayout, registry: str) -> None:
    """Let the node pull from ``registry`` (host:port on loopback) over plain HTTP.

    Only loopback registries: pull credentials must never cross a network in clear.
    """
    host, _, port = registry.rpartition(":")
    loopback = host == "localhost" or host.startswith("127.")
    if not (loopback and port.isdigit() and "/" not in registry):
        raise RealNodeError(
            f"refusing plain HTTP for registry {registry!r}: only a loopback registry "
            "(127.0.0.1:PORT or localhost:PORT) may be pulled from without TLS"
        )
    host_dir = node.certs_dir / registry
    host_dir.mkdir(parents=True, exist_ok=True)
    (host_dir / "hosts.toml").write_text(nodeconfig.registry_hosts_toml(registry))


def _wait_containerd(node: nodeconfig.NodeLayout, bins: NodeBinaries, pid: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not processes.is_running(pid):
            raise RealNodeError(
                f"containerd of {node.name} exited; last lines of {log}:\n"
                + processes.log_tail(log)
            )
        probe = subprocess.run(
            [str(bins.ctr), f"--address={node.socket}", "version"],
            capture_output=True,
            env=node_env(bins),
            check=False,
        )
        if probe.returncode == 0:
            return
        time.sleep(0.2)
    raise RealNodeError(f"containerd of {node.name} did not answer on {node.socket}")


def start(
    cluster_dir: Path,
    count: int,
    *,
    bins: NodeBinaries,
    server: str,
    tokens: dict[str, str],
    ca_file: str,
    launch: Launch,
    progress: Callable[[str], None],
) -> dict[str, str]:
    """Start ``count`` real nodes plus kube-proxy and CoreDNS.

    Returns the health URLs of kube-proxy (rules synced) and CoreDNS (serving),
    which the caller waits for with the nodes' Ready condition.
    """
    env = node_env(bins)

    def identity(user: str, path: Path) -> str:
        return str(kubeconfig.write(path, server=server, ca_file=ca_file, token=tokens[user]))

    _save_sysctls(cluster_dir)
    pause = pause_archive(bins)
    nodes = layouts(cluster_dir, count)
    for node in nodes:
        progress(f"starting containerd for {node.name}")
        for sub in (node.cni_conf_dir, node.kubelet_dir, node.pod_logs, node.certs_dir):
            sub.mkdir(parents=True, exist_ok=True)
        (node.dir / "containerd.toml").write_text(
            nodeconfig.containerd_toml(node, bins.runc, bins.cni_bin_dir)
        )
        (node.cni_conf_dir / "10-tether.conflist").write_text(nodeconfig.cni_conflist(node))
        _make_cgroups(node)
        pid = launch(
            f"containerd-{node.index}",
            [str(bins.containerd), f"--config={node.dir / 'containerd.toml'}"],
            env,
        )
        hostlock.record_pid(cluster_dir, pid)
        _wait_containerd(node, bins, pid, cluster_dir / "logs" / f"containerd-{node.index}.log")
        import_image(node, bins, pause)
    dns_ip = nodes[0].ip
    for node in nodes:
        progress(f"starting kubelet for {node.name}")
        config = node.dir / "kubelet.yaml"
        config.write_text(
            nodeconfig.kubelet_config(
                node,
                port=processes.free_port(),
                healthz_port=processes.free_port(),
                ca_file=ca_file,
                dns_ip=nodeconfig.DNS_SERVICE_IP,
            )
        )
        launch(
            f"kubelet-{node.index}",
            [
                str(bins.node),
                "kubelet",
                f"--config={config}",
                f"--kubeconfig={identity(node_user(node.index), node.dir / 'kubelet.kubeconfig')}",
                f"--root-dir={node.kubelet_dir}",
                f"--cert-dir={node.kubelet_dir / 'pki'}",
                f"--hostname-override={node.name}",
                f"--node-ip={node.ip}",
                "--node-labels=type=real,tether.dev/real-node=true",
                "--v=1",
            ],
            env,
        )
    progress("starting kube-proxy and CoreDNS")
    proxy_conf = cluster_dir / "kube-proxy.yaml"
    proxy_health, dns_health = processes.free_port(), processes.free_port()
    proxy_conf.write_text(
        nodeconfig.kube_proxy_config(
            nodes[0],
            kubeconfig=identity(KUBE_PROXY_USER, cluster_dir / "kube-proxy.kubeconfig"),
            healthz_port=proxy_health,
            metrics_port=processes.free_port(),
        )
    )
    launch("kube-proxy", [str(bins.node), "kube-proxy", f"--config={proxy_conf}"], env)
    corefile = cluster_dir / "Corefile"
    corefile.write_text(
        nodeconfig.corefile(
            bind_ip=dns_ip,
            kubeconfig=identity(COREDNS_USER, cluster_dir / "coredns.kubeconfig"),
            health_port=dns_health,
        )
    )
    launch("coredns", [str(bins.coredns), "-conf", str(corefile)], env)
    return {
        "kube-proxy": f"http://127.0.0.1:{proxy_health}/healthz",
        "coredns": f"http://127.0.0.1:{dns_health}/health",
    }
