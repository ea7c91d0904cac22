"""Real nodes run real containers: Pods answer HTTP, Services route, DNS resolves, pulls auth.

Everything here runs on the machine: containerd 2 with Debian's runc, the
kubelet and kube-proxy built with the control plane, CoreDNS, an image built
locally from Debian's static busybox, and the local registry with htpasswd.
``down`` is checked against a snapshot of the host taken before ``up``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.cluster import wait_for_real_node_host
from fixtures.registry import RegistryServer
from tether.testenv import cluster as localcluster
from tether.testenv import hostcheck, nodebinaries, nodeconfig, ociarchive, realnode
from tether.testenv.nodebinaries import NodeBinaries

HELLO = "local.test/hello:1.0"
TETHER = str(Path(sys.executable).with_name("tether"))


def _host_snapshot(directory: Path) -> dict[str, Any]:
    def lines(cmd: list[str]) -> list[str]:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
        return sorted(ln for ln in out.splitlines() if not ln.startswith("-P "))

    cgroups = sorted(str(p) for root in hostcheck.cgroup_roots() for p in root.glob("tether-*"))
    procs = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(directory) in cmdline:
                procs.append(cmdline)
    return {
        "processes": procs,
        "mounts": [
            ln
            for ln in Path("/proc/self/mountinfo").read_text().splitlines()
            if str(directory) in ln
        ],
        "links": lines(["ip", "-o", "link", "show"]),
        "addresses": lines(["ip", "-o", "-4", "addr", "show"]),
        "iptables": [
            rule
            for tool in ("iptables", "ip6tables")
            for table in ("filter", "nat", "mangle")
            for rule in lines([tool, "-w", "-t", table, "-S"])
        ],
        "cgroups": cgroups,
        "cni-cache": sorted(os.listdir("/var/lib/cni/results"))
        if os.path.isdir("/var/lib/cni/results")
        else [],
        "kubelet-host-dir": os.path.exists("/var/lib/kubelet"),
        "sysctls": {k: Path("/proc/sys", k).read_text() for k in realnode.HOST_SYSCTLS},
        "shim-sockets": sorted(os.listdir("/run/containerd/s"))
        if os.path.isdir("/run/containerd/s")
        else [],
    }


def _wait(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _import_hello(state: localcluster.ClusterState, body: str) -> None:
    archive = Path(state.directory) / "hello.tar"
    ociarchive.write_archive(ociarchive.busybox_http_image(HELLO, body), archive)
    node = nodeconfig.NodeLayout(Path(state.directory), 0)
    realnode.import_image(node, NodeBinaries.locate(), archive)


def _pod(name: str, image: str, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "web",
        "image": image,
        "ports": [{"containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
    }
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"nodeSelector": {"type": "real"}, "containers": [container], **spec},
    }


def _ready(pod: dict[str, Any]) -> bool:
    conds = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


@pytest.fixture
def ns(real_node_cluster: localcluster.ClusterState) -> Iterator[tuple[httpx.Client, str]]:
    name = f"real-{secrets.token_hex(3)}"
    with real_node_cluster.client() as client:
        resp = client.post("/api/v1/namespaces", json={"metadata": {"name": name}})
        assert resp.status_code == 201, resp.text
        _wait(
            lambda: client.get(f"/api/v1/namespaces/{name}/serviceaccounts/default").is_success,
            "the default ServiceAccount",
        )
        yield client, name
        client.delete(f"/api/v1/namespaces/{name}")


def _run_pod(client: httpx.Client, ns: str, pod: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    resp = client.post(f"/api/v1/namespaces/{ns}/pods", json=pod)
    assert resp.status_code == 201, resp.text
    name = pod["metadata"]["name"]
    live = _wait(
        lambda: (
            (p := client.get(f"/api/v1/namespaces/{ns}/pods/{name}").json()) and _ready(p) and p
        ),
        f"pod {name} Ready",
    )
    return live, time.monotonic() - started


def _tether(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TETHER, *args], capture_output=True, text=True, check=False, timeout=300)


def test_cluster_down_leaves_no_process_mount_interface_cgroup_or_iptables_rule(
    tmp_path: Path,
) -> None:
    reason = hostcheck.unsupported_reason()
    if reason:
        pytest.skip(f"this machine cannot run real nodes: {reason}")
    wait_for_real_node_host()
    directory = tmp_path / "c"
    before = _host_snapshot(directory)
    started = time.monotonic()
    up = _tether("cluster", "up", "--nodes", "0", "--real-nodes", "1", "--dir", str(directory))
    try:
        assert up.returncode == 0, up.stderr
        print(f"real-node cluster up: {time.monotonic() - started:.1f}s")
        assert "1 real nodes" in up.stdout
        status = _tether("cluster", "status", "--dir", str(directory))
        assert status.returncode == 0, status.stdout
        assert "kubelet-0" in status.stdout and "1 nodes Ready" in status.stdout
        state = localcluster.ClusterState.load(directory)
        assert state is not None
        _import_hello(state, "leak check\n")
        with state.client() as client:
            pod, _ = _run_pod(client, "default", _pod("leak", HELLO))
            assert httpx.get(f"http://{pod['status']['podIP']}:8080/").text == "leak check\n"
        during = _host_snapshot(directory)
        assert during["processes"] and during["mounts"] and during["iptables"]
        assert during["cgroups"] and during["shim-sockets"]
        assert any("tether-br0" in ln for ln in during["links"])
    finally:
        down = _tether("cluster", "down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    assert "containerd-0" in down.stdout and "kubelet-0" in down.stdout
    after = _host_snapshot(directory)
    assert after == before
    assert not realnode.LOCK_FILE.exists()


def test_real_nodes_are_refused_with_the_reason_where_containers_cannot_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nodebinaries, "RUNC", str(tmp_path / "no-runc"))
    with pytest.raises(localcluster.ClusterError) as err:
        localcluster.up(tmp_path / "c", nodes=0, real_nodes=1)
    assert "cannot run real nodes" in str(err.value)
    assert "no-runc" in str(err.value) and "apt-get install" in str(err.value)
    assert not (tmp_path / "c").exists()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "need root" in (hostcheck.unsupported_reason() or "")


def test_real_node_is_ready_with_the_kubelet_and_containerd_2(
    real_node_cluster: localcluster.ClusterState,
) -> None:
    with real_node_cluster.client() as client:
        node = client.get("/api/v1/nodes/real-node-0").json()
    conds = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conds["Ready"] == "True"
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == "v1.36.3"
    assert info["containerRuntimeVersion"].startswith("containerd://2.")


def test_pod_answers_http_on_its_pod_ip_and_through_a_service_cluster_ip(
    real_node_cluster: localcluster.ClusterState, ns: tuple[httpx.Client, str]
) -> None:
    client, name = ns
    body = f"hello from {name}\n"
    _import_hello(real_node_cluster, body)
    pod, seconds = _run_pod(client, name, _pod("hello", HELLO))
    print(f"pod create to Ready: {seconds:.2f}s")
    assert pod["spec"]["nodeName"] == "real-node-0"
    assert httpx.get(f"http://{pod['status']['podIP']}:8080/", timeout=5).text == body

    svc = {
        "metadata": {"name": "hello"},
        "spec": {"selector": {"app": "hello"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    created = client.post(f"/api/v1/namespaces/{name}/services", json=svc).json()
    cluster_ip = created["spec"]["clusterIP"]

    def via_service() -> str:
        try:
            return httpx.get(f"http://{cluster_ip}/", timeout=2).text
        except httpx.HTTPError:
            return ""

    assert _wait(via_service, "kube-proxy to route the ClusterIP", 30) == body


def test_a_pod_reaches_a_service_by_its_cluster_dns_name(
    real_node_cluster: localcluster.ClusterState, ns: tuple[httpx.Client, str]
) -> None:
    client, name = ns
    body = f"dns answer {name}\n"
    _import_hello(real_node_cluster, body)
    _run_pod(client, name, _pod("web", HELLO))
    svc = {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    assert client.post(f"/api/v1/namespaces/{name}/services", json=svc).status_code == 201
    url = f"http://web.{name}.svc.cluster.local/"
    getter = _pod(
        "getter",
        HELLO,
        restartPolicy="OnFailure",
        container={"command": ["/bin/busybox", "wget", "-q", "-O", "-", url]},
    )
    getter["spec"]["containers"][0].pop("readinessProbe")
    assert client.post(f"/api/v1/namespaces/{name}/pods", json=getter).status_code == 201
    _wait(
        lambda: (
            client.get(f"/api/v1/namespaces/{name}/pods/getter").json()["status"].get("phase")
            == "Succeeded"
        ),
        "the getter pod to succeed",
    )
    logs = client.get(f"/api/v1/namespaces/{name}/pods/getter/log")
    assert logs.status_code == 200, logs.text
    assert logs.text == body


def _push(registry: RegistryServer, image: ociarchive.Image, repo: str, tag: str) -> None:
    built = ociarchive.build(image)
    user = "ci"
    with httpx.Client(base_url=registry.url, auth=(user, registry.users[user])) as http:
        for blob in (built.layer, built.config):
            start = http.post(f"/v2/{repo}/blobs/uploads/")
            start.raise_for_status()
            loc = start.headers["location"]
            sep = "&" if "?" in loc else "?"
            http.put(f"{loc}{sep}digest={built.digest(blob)}", content=blob).raise_for_status()
        http.put(
            f"/v2/{repo}/manifests/{tag}",
            content=built.manifest,
            headers={"Content-Type": ociarchive.OCI_MANIFEST},
        ).raise_for_status()


def _pull_secret(registry: str, user: str, password: str) -> dict[str, Any]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = {"auths": {registry: {"username": user, "password": password, "auth": auth}}}
    return {
        "metadata": {"name": "pull"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
    }


def test_a_wrong_pull_secret_gives_image_pull_backoff_and_the_right_one_runs(
    real_node_cluster: localcluster.ClusterState,
    ns: tuple[httpx.Client, str],
    tmp_path: Path,
) -> None:
    client, name = ns
    with RegistryServer(tmp_path / "registry", users={"ci": secrets.token_urlsafe(12)}) as reg:
        body = f"pulled with credentials {name}\n"
        _push(reg, ociarchive.busybox_http_image("x", body), "team/hello", "2.0")
        trusted = _tether(
            "cluster", "trust-registry", reg.host, "--dir", real_node_cluster.directory
        )
        assert trusted.returncode == 0, trusted.stderr
        image = f"{reg.host}/team/hello:2.0"

        secret = _pull_secret(reg.host, "ci", "not-the-password")
        assert client.post(f"/api/v1/namespaces/{name}/secrets", json=secret).status_code == 201
        pod = _pod("denied", image, imagePullSecrets=[{"name": "pull"}])
        assert client.post(f"/api/v1/namespaces/{name}/pods", json=pod).status_code == 201

        def waiting_reason(reason: str) -> dict[str, Any] | None:
            live = client.get(f"/api/v1/namespaces/{name}/pods/denied").json()
            for cs in live.get("status", {}).get("containerStatuses", []):
                waiting = cs.get("state", {}).get("waiting") or {}
                if waiting.get("reason") == reason:
                    return dict(waiting)
            return None

        _wait(lambda: waiting_reason("ImagePullBackOff"), "ImagePullBackOff from the kubelet")
        events = client.get(
            f"/api/v1/namespaces/{name}/events",
            params={"fieldSelector": "involvedObject.name=denied,reason=Failed"},
        ).json()["items"]
        messages = " ".join(e["message"] for e in events)
        assert "ErrImagePull" in messages or "401 Unauthorized" in messages
        assert f"HEAD request to http://{reg.host}/v2/team/hello/manifests/2.0: 401" in messages
        assert "not-the-password" not in messages

        right = _pull_secret(reg.host, "ci", reg.users["ci"])
        replaced = client.put(f"/api/v1/namespaces/{name}/secrets/pull", json=right)
        assert replaced.status_code == 200, replaced.text
        live, _ = _run_pod(
            client, name, _pod("allowed", image, imagePullSecrets=[{"name": "pull"}])
        )
        assert httpx.get(f"http://{live['status']['podIP']}:8080/", timeout=5).text == body


def test_a_pod_reaches_the_api_through_the_kubernetes_service(
    real_node_cluster: localcluster.ClusterState, ns: tuple[httpx.Client, str]
) -> None:
    client, name = ns
    _import_hello(real_node_cluster, "unused\n")
    probe = _pod(
        "api-probe",
        HELLO,
        restartPolicy="OnFailure",
        container={
            "command": ["/bin/busybox", "nc", "-w", "3", "kubernetes.default.svc", "443"],
            "stdin": False,
        },
    )
    probe["spec"]["containers"][0].pop("readinessProbe")
    assert client.post(f"/api/v1/namespaces/{name}/pods", json=probe).status_code == 201
    _wait(
        lambda: (
            client.get(f"/api/v1/namespaces/{name}/pods/api-probe").json()["status"].get("phase")
            == "Succeeded"
        ),
        "a TCP connection from a Pod to kubernetes.default.svc:443",
    )


def test_the_apiserver_is_not_reachable_from_outside_the_host(
    real_node_cluster: localcluster.ClusterState,
) -> None:
    """Attack: a peer on another interface connects to the apiserver bound for the Pods."""
    port = int(real_node_cluster.server.rsplit(":", 1)[1])
    netns, host_if, peer_if = f"tt-atk-{secrets.token_hex(2)}", "tt-atk-h", "tt-atk-p"

    def sh(*cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(cmd), capture_output=True, text=True, check=False)

    try:
        assert sh("ip", "netns", "add", netns).returncode == 0
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        sh("ip", "link", "set", peer_if, "netns", netns)
        sh("ip", "addr", "add", "192.168.251.1/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "-n", netns, "addr", "add", "192.168.251.2/30", "dev", peer_if)
        sh("ip", "-n", netns, "link", "set", peer_if, "up")
        sh("ip", "-n", netns, "link", "set", "lo", "up")
        reach = sh("ip", "netns", "exec", netns, "busybox", "nc", "-w", "3", "192.168.251.1", "9")
        assert "refused" in reach.stderr.lower() or reach.returncode != 0  # the link works
        attack = sh(
            "ip", "netns", "exec", netns, "busybox", "nc", "-w", "3", "192.168.251.1", str(port)
        )
        assert attack.returncode != 0, "the apiserver answered a peer outside the host"
        assert "refused" not in attack.stderr.lower()  # dropped by TETHER-APISERVER, not closed
        ok = sh("busybox", "nc", "-w", "3", "192.168.251.1", str(port))
        assert ok.returncode == 0, "the host itself must still reach the apiserver"
    finally:
        sh("ip", "link", "del", host_if)
        sh("ip", "netns", "del", netns)


@pytest.mark.parametrize(
    "registry",
    ["registry.example.com:5000", "10.245.0.1:5000", "127.0.0.1:5000/../../x", "127.0.0.1"],
)
def test_plain_http_is_refused_for_a_registry_beyond_loopback(
    registry: str, tmp_path: Path
) -> None:
    """Attack: make the nodes send pull credentials in clear to a registry on the network."""
    node = nodeconfig.NodeLayout(tmp_path, 0)
    with pytest.raises(realnode.RealNodeError) as err:
        realnode.trust_plain_http_registry(node, registry)
    assert "only a loopback registry" in str(err.value)
    assert not node.certs_dir.exists() or not any(node.certs_dir.rglob("hosts.toml"))


def test_a_second_cluster_with_real_nodes_is_refused_and_leaves_the_first_intact(
    real_node_cluster: localcluster.ClusterState, ns: tuple[httpx.Client, str], tmp_path: Path
) -> None:
    client, name = ns
    _import_hello(real_node_cluster, "still here\n")
    pod, _ = _run_pod(client, name, _pod("first", HELLO))
    rules_before = _host_snapshot(tmp_path)["iptables"]

    with pytest.raises(localcluster.ClusterError) as err:
        localcluster.up(tmp_path / "second", nodes=0, real_nodes=1)
    assert real_node_cluster.directory in str(err.value)
    assert "tether cluster down --dir" in str(err.value)
    localcluster.down(tmp_path / "second")

    assert _host_snapshot(tmp_path)["iptables"] == rules_before
    assert httpx.get(f"http://{pod['status']['podIP']}:8080/", timeout=5).text == "still here\n"
    assert json.loads(realnode.LOCK_FILE.read_text())["directory"] == real_node_cluster.directory


IN_CLUSTER_CLIENT = """package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	dir := "/var/run/secrets/kubernetes.io/serviceaccount/"
	token, _ := os.ReadFile(dir + "token")
	ca, _ := os.ReadFile(dir + "ca.crt")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	host := os.Getenv("KUBERNETES_SERVICE_HOST") + ":" + os.Getenv("KUBERNETES_SERVICE_PORT")
	req, _ := http.NewRequest("GET", "https://"+host+"/api/v1/namespaces/"+os.Args[1]+"/pods", nil)
	req.Header.Set("Authorization", "Bearer "+string(token))
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, len(body))
}
"""


def test_a_pod_calls_the_api_with_its_service_account_over_verified_tls(
    real_node_cluster: localcluster.ClusterState, ns: tuple[httpx.Client, str], tmp_path: Path
) -> None:
    client, name = ns
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.go").write_text(IN_CLUSTER_CLIENT)
    (src / "go.mod").write_text("module incluster\n\ngo 1.22\n")
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="")
    subprocess.run(
        ["go", "build", "-o", str(tmp_path / "client"), "."], cwd=src, env=env, check=True
    )
    image = ociarchive.Image(
        ref="local.test/incluster:1.0",
        files=[ociarchive.File("client", (tmp_path / "client").read_bytes(), 0o755)],
        entrypoint=["/client", name],
        user="65534:65534",
    )
    archive = ociarchive.write_archive(image, tmp_path / "incluster.tar")
    node = nodeconfig.NodeLayout(Path(real_node_cluster.directory), 0)
    realnode.import_image(node, NodeBinaries.locate(), archive)
    binding = {
        "metadata": {"name": "default-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": name}],
    }
    rb = client.post(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{name}/rolebindings", json=binding
    )
    assert rb.status_code == 201, rb.text
    pod = _pod("caller", image.ref, restartPolicy="OnFailure")
    pod["spec"]["containers"][0].pop("readinessProbe")
    assert client.post(f"/api/v1/namespaces/{name}/pods", json=pod).status_code == 201
    _wait(
        lambda: (
            client.get(f"/api/v1/namespaces/{name}/pods/caller").json()["status"].get("phase")
            == "Succeeded"
        ),
        "the in-cluster API call to succeed",
    )
    logs = client.get(f"/api/v1/namespaces/{name}/pods/caller/log").text
    assert logs.startswith("200 "), logs
