"""The configuration files of a real node, rendered from its directory and addresses.

Every path a node writes (containerd root and state, runc state, CNI IPAM,
network namespaces, kubelet root, pod logs, cgroups) is under the node's own
directory or a cgroup named after it, so two nodes never share state and
``tether cluster down`` knows exactly what to remove. Ports are chosen free
at start; addresses come from the node's Pod subnet (``10.245.<i>.0/24``,
gateway ``.1`` on the node's bridge, which is also the node's InternalIP).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

POD_NETWORK = "10.245.0.0/16"
CLUSTER_DOMAIN = "cluster.local"
PAUSE_REF = "registry.k8s.io/pause:3.10"
DNS_SERVICE_IP = "10.0.0.10"  # kube-system/kube-dns, as kubeadm clusters have it


@dataclass(frozen=True)
class NodeLayout:
    """Names, paths and addresses of real node ``index`` of the cluster in ``cluster_dir``."""

    cluster_dir: Path
    index: int

    @property
    def name(self) -> str:
        return f"real-node-{self.index}"

    @property
    def dir(self) -> Path:
        return self.cluster_dir / f"n{self.index}"

    @property
    def socket(self) -> Path:
        return self.dir / "c.sock"

    @property
    def runc_root(self) -> Path:
        return self.dir / "runc"

    @property
    def containerd_root(self) -> Path:
        return self.dir / "containerd"

    @property
    def cni_conf_dir(self) -> Path:
        return self.dir / "cni" / "net.d"

    @property
    def kubelet_dir(self) -> Path:
        return self.dir / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.dir / "pod-logs"

    @property
    def certs_dir(self) -> Path:
        return self.dir / "certs.d"

    @property
    def bridge(self) -> str:
        return f"tether-br{self.index}"

    @property
    def subnet(self) -> str:
        return f"10.245.{self.index}.0/24"

    @property
    def ip(self) -> str:
        return f"10.245.{self.index}.1"

    @property
    def cgroup_root(self) -> str:
        digest = hashlib.sha256(str(self.cluster_dir).encode()).hexdigest()[:10]
        return f"/tether-{digest}-n{self.index}"


def containerd_toml(node: NodeLayout, runc: Path, cni_bin_dir: Path) -> str:
    c = node.containerd_root
    return f"""version = 3
root = "{c / "root"}"
state = "{c / "state"}"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{node.socket}"

[ttrpc]
  address = "{node.socket}.ttrpc"

[debug]
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{c / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{PAUSE_REF}"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "{node.certs_dir}"

[plugins."io.containerd.cri.v1.runtime"]
  enable_cdi = false
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        Root = "{node.runc_root}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{cni_bin_dir}"]
    conf_dir = "{node.cni_conf_dir}"
"""


def cni_conflist(node: NodeLayout) -> str:
    conf: dict[str, Any] = {
        "cniVersion": "1.0.0",
        "name": f"tether-n{node.index}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": node.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.subnet, "gateway": node.ip}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(node.dir / "cni" / "ipam"),
                },
            }
        ],
    }
    return json.dumps(conf, indent=2)


def kubelet_config(
    node: NodeLayout, *, port: int, healthz_port: int, ca_file: str, dns_ip: str
) -> str:
    conf: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": node.cgroup_root,
        "containerRuntimeEndpoint": f"unix://{node.socket}",
        "address": node.ip,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": ca_file},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [dns_ip],
        "resolvConf": "/etc/resolv.conf",
        "failSwapOn": False,
        "podLogsDir": str(node.pod_logs),
        "volumePluginDir": str(node.kubelet_dir / "volume-plugins"),
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "maxPods": 50,
        "podCIDR": node.subnet,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "nodeStatusUpdateFrequency": "10s",
        "nodeStatusReportFrequency": "30s",
        "protectKernelDefaults": False,
        "enableControllerAttachDetach": True,
        "shutdownGracePeriod": "0s",
    }
    return yaml.safe_dump(conf, sort_keys=False)


def kube_proxy_config(
    node: NodeLayout, *, kubeconfig: str, healthz_port: int, metrics_port: int
) -> str:
    conf: dict[str, Any] = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": kubeconfig},
        "mode": "iptables",
        "hostnameOverride": node.name,
        "clusterCIDR": POD_NETWORK,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "nodePortAddresses": [POD_NETWORK],
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {
            "masqueradeAll": True,
            "localhostNodePorts": False,
            "syncPeriod": "30s",
            "minSyncPeriod": "0s",
        },
    }
    return yaml.safe_dump(conf, sort_keys=False)


def corefile(*, bind_ip: str, kubeconfig: str, health_port: int) -> str:
    return f""".:53 {{
    bind {bind_ip}
    errors
    health 127.0.0.1:{health_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} tether-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    forward . /etc/resolv.conf
    cache 30
}}
"""


def registry_hosts_toml(registry: str) -> str:
    """containerd ``hosts.toml`` letting the node pull from a plain-HTTP registry on loopback."""
    return f"""server = "http://{registry}"

[host."http://{registry}"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
"""
