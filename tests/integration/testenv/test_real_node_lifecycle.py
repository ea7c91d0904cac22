"""`tether cluster up/down --real-nodes`: what down removes, who may hold the host, refusals."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from realnode_support import (
    HELLO,
    host_snapshot,
    import_hello,
    pod_spec,
    run_pod,
    tether,
    wait,
)

from fixtures.cluster import reserved_real_node_host
from tether.testenv import cluster as localcluster
from tether.testenv import (
    hostcheck,
    hostlock,
    nodebinaries,
    nodeconfig,
    nodeimages,
    ociarchive,
    realnode,
)


@pytest.mark.whole_host
def test_cluster_down_leaves_no_process_mount_interface_cgroup_or_iptables_rule(
    tmp_path: Path,
) -> None:
    reason = hostcheck.unsupported_reason()
    if reason:
        pytest.skip(f"this machine cannot run real nodes: {reason}")
    # Attack: a Pod's hostPath mount under the cluster directory must not let
    # down's removal reach the host's files.
    host_data = tmp_path / "host-data"
    host_data.mkdir()
    (host_data / "precious").write_text("keep me\n")
    with reserved_real_node_host():
        directory = tmp_path / "c"
        before = host_snapshot(directory)
        started = time.monotonic()
        up = tether("cluster", "up", "--nodes", "0", "--real-nodes", "1", "--dir", str(directory))
        try:
            assert up.returncode == 0, up.stderr
            print(f"real-node cluster up: {time.monotonic() - started:.1f}s")
            assert "1 real nodes" in up.stdout
            status = tether("cluster", "status", "--dir", str(directory))
            assert status.returncode == 0, status.stdout
            assert "kubelet-0" in status.stdout and "1 nodes Ready" in status.stdout
            state = localcluster.ClusterState.load(directory)
            assert state is not None
            archive = ociarchive.write_archive(
                ociarchive.busybox_http_image(HELLO, "leak check\n"), tmp_path / "hello.tar"
            )
            imported = tether("cluster", "import", str(archive), "--dir", str(directory))
            assert imported.returncode == 0, imported.stderr
            assert "into 1 real node(s)" in imported.stdout
            leak = pod_spec(
                "leak",
                HELLO,
                volumes=[{"name": "host", "hostPath": {"path": str(host_data)}}],
                container={"volumeMounts": [{"name": "host", "mountPath": "/host"}]},
            )
            with state.client() as client:
                pod, _ = run_pod(client, "default", leak)
                assert httpx.get(f"http://{pod['status']['podIP']}:8080/").text == "leak check\n"
            during = host_snapshot(directory)
            assert during["processes"] and during["mounts"] and during["iptables"]
            assert during["cgroups"] and during["shim-sockets"]
            assert any("tether-br0" in ln for ln in during["links"])
        finally:
            down = tether("cluster", "down", "--dir", str(directory))
        assert down.returncode == 0, down.stderr
        assert "containerd-0" in down.stdout and "kubelet-0" in down.stdout
        after = host_snapshot(directory)
        assert after == before
        assert not realnode.LOCK_FILE.exists()
    assert (host_data / "precious").read_text() == "keep me\n"


@pytest.mark.whole_host
def test_a_failed_up_says_which_component_and_leaves_nothing_behind(tmp_path: Path) -> None:
    reason = hostcheck.unsupported_reason()
    if reason:
        pytest.skip(f"this machine cannot run real nodes: {reason}")
    broken = tmp_path / "tether-node"
    broken.write_text("#!/bin/sh\necho 'simulated kubelet failure' >&2\nexit 1\n")
    broken.chmod(0o755)
    bins = dataclasses.replace(nodebinaries.NodeBinaries.locate(), node=broken)
    directory = tmp_path / "c"
    with reserved_real_node_host():
        before = host_snapshot(directory)
        with pytest.raises(localcluster.ClusterError) as err:
            localcluster.up(directory, nodes=0, real_nodes=1, node_binaries=bins, timeout=60)
        assert "exited early" in str(err.value)
        assert "simulated kubelet failure" in str(err.value)
        localcluster.down(directory)
        assert host_snapshot(directory) == before
        assert hostlock.holder() is None


@pytest.mark.whole_host
def test_two_real_nodes_each_run_pods_that_reach_each_other_through_a_service(
    tmp_path: Path,
) -> None:
    reason = hostcheck.unsupported_reason()
    if reason:
        pytest.skip(f"this machine cannot run real nodes: {reason}")
    directory = tmp_path / "c"
    with reserved_real_node_host():
        state = localcluster.up(directory, nodes=0, real_nodes=2)
        try:
            archive = ociarchive.write_archive(
                ociarchive.busybox_http_image(HELLO, "from node 0\n"), tmp_path / "hello.tar"
            )
            assert nodeimages.import_images(directory, [archive]) == 2
            server = pod_spec("server", HELLO, nodeName="real-node-0")
            svc = {
                "metadata": {"name": "server"},
                "spec": {
                    "selector": {"app": "server"},
                    "ports": [{"port": 80, "targetPort": 8080}],
                },
            }
            url = "http://server.default.svc.cluster.local/"
            script = (
                f"for i in $(/bin/busybox seq 60); do /bin/busybox wget -q -O - {url} 2>/dev/null "
                f"&& exit 0; /bin/busybox sleep 1; done; /bin/busybox wget -O - {url}; exit 1"
            )
            client_pod = pod_spec(
                "client",
                HELLO,
                nodeName="real-node-1",
                restartPolicy="Never",
                container={"command": ["/bin/busybox", "sh", "-c", script]},
            )
            client_pod["spec"]["containers"][0].pop("readinessProbe")
            with state.client() as client:
                run_pod(client, "default", server)
                assert client.post("/api/v1/namespaces/default/services", json=svc).is_success
                assert client.post("/api/v1/namespaces/default/pods", json=client_pod).is_success

                def finished() -> str | None:
                    got = client.get("/api/v1/namespaces/default/pods/client").json()
                    phase = got["status"].get("phase")
                    return phase if phase in ("Succeeded", "Failed") else None

                phase = wait(finished, "the client on real-node-1")
                logs = client.get("/api/v1/namespaces/default/pods/client/log").text
                assert phase == "Succeeded", logs
                assert logs == "from node 0\n"
                ip = client.get("/api/v1/namespaces/default/pods/client").json()["status"]["podIP"]
                assert ip.startswith("10.245.1.")
        finally:
            localcluster.down(directory)


@pytest.mark.whole_host
def test_up_after_a_cluster_killed_without_down_clears_what_it_left(tmp_path: Path) -> None:
    """A run killed mid-way leaves nodes, mounts and iptables rules; the next up clears them."""
    reason = hostcheck.unsupported_reason()
    if reason:
        pytest.skip(f"this machine cannot run real nodes: {reason}")
    killed, fresh = tmp_path / "killed", tmp_path / "fresh"
    with reserved_real_node_host():
        before = host_snapshot(tmp_path)
        try:
            localcluster.up(killed, nodes=0, real_nodes=1)
            subprocess.run(["pkill", "-9", "-f", str(killed)], check=False)
            wait(lambda: not host_snapshot(killed)["processes"], "the killed cluster to die")
            assert host_snapshot(killed)["iptables"] != before["iptables"]
            localcluster.up(fresh, nodes=0, real_nodes=1)
            assert not host_snapshot(killed)["mounts"]
            assert hostlock.holder() == str(fresh)
        finally:
            localcluster.down(fresh)
            localcluster.down(killed)
        assert host_snapshot(tmp_path) == before


@pytest.mark.whole_host
def test_a_guard_chain_left_by_a_cluster_that_died_is_replaced_at_up() -> None:
    """A killed run leaves TETHER-APISERVER behind; the next up must not fail on it."""
    reason = hostcheck.unsupported_reason()
    if reason:
        pytest.skip(f"this machine cannot run real nodes: {reason}")
    chain, port = realnode.GUARD_CHAIN, "64999"

    def filter_rules(tool: str) -> list[str]:
        listing = subprocess.run([tool, "-w", "-t", "filter", "-S"], capture_output=True, text=True)
        return [ln for ln in listing.stdout.splitlines() if chain in ln]

    with reserved_real_node_host():
        try:
            for tool in ("iptables", "ip6tables"):
                for rule in (
                    ["-N", chain],
                    ["-A", chain, "-j", "ACCEPT"],
                    ["-I", "INPUT", "-p", "tcp", "--dport", "1234", "-j", chain],
                ):
                    subprocess.run([tool, "-w", "-t", "filter", *rule], check=True)
            realnode.guard_apiserver(int(port))
            for tool in ("iptables", "ip6tables"):
                rules = filter_rules(tool)
                jumps = [ln for ln in rules if ln.startswith("-A INPUT")]
                assert len(jumps) == 1 and f"--dport {port}" in jumps[0], rules
                assert not any("ACCEPT" in ln for ln in rules), rules
                assert rules[-1] == f"-A {chain} -j DROP"
        finally:
            for tool in ("iptables", "ip6tables"):
                for rule in filter_rules(tool):
                    if rule.startswith("-A INPUT"):
                        subprocess.run([tool, "-w", "-t", "filter", "-D", *rule.split()[1:]])
                for op in ("-F", "-X"):
                    subprocess.run([tool, "-w", "-t", "filter", op, chain], capture_output=True)


def test_down_refuses_to_remove_a_directory_that_still_has_a_mount(tmp_path: Path) -> None:
    """Attack: a mount left under the state directory leads rmtree into host files."""
    if hostcheck.unsupported_reason():
        pytest.skip("needs root to mount")
    host_files = tmp_path / "host"
    host_files.mkdir()
    (host_files / "precious").write_text("keep me\n")
    directory = tmp_path / "c"
    (directory / "n0" / "rootfs").mkdir(parents=True)
    target = directory / "n0" / "rootfs"
    subprocess.run(["mount", "--bind", str(host_files), str(target)], check=True)
    try:
        with pytest.raises(localcluster.ClusterError) as err:
            localcluster.down(directory)
        assert "still mounted" in str(err.value)
        assert (host_files / "precious").read_text() == "keep me\n"
    finally:
        subprocess.run(["umount", str(target)], check=False)
    localcluster.down(directory)
    assert not directory.exists()
    assert (host_files / "precious").exists()


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
    real_node_cluster: localcluster.ClusterState, real_ns: tuple[httpx.Client, str], tmp_path: Path
) -> None:
    client, name = real_ns
    import_hello(real_node_cluster, "still here\n")
    pod, _ = run_pod(client, name, pod_spec("first", HELLO))
    rules_before = host_snapshot(tmp_path)["iptables"]

    with pytest.raises(localcluster.ClusterError) as err:
        localcluster.up(tmp_path / "second", nodes=0, real_nodes=1)
    assert real_node_cluster.directory in str(err.value)
    assert "tether cluster down --dir" in str(err.value)
    localcluster.down(tmp_path / "second")

    assert host_snapshot(tmp_path)["iptables"] == rules_before
    assert httpx.get(f"http://{pod['status']['podIP']}:8080/", timeout=5).text == "still here\n"
    assert json.loads(realnode.LOCK_FILE.read_text())["directory"] == real_node_cluster.directory


def _as_user(state: localcluster.ClusterState, user: str) -> httpx.Client:
    tokens = Path(state.directory, "pki", "tokens.csv").read_text().splitlines()
    token = next(line.split(",")[0] for line in tokens if line.split(",")[1] == user)
    client = state.client()
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_node_components_hold_no_admin_power(
    real_node_cluster: localcluster.ClusterState, real_ns: tuple[httpx.Client, str]
) -> None:
    """Attack: use a node's credentials to read Secrets or take over another Node."""
    admin, name = real_ns
    secret = {"metadata": {"name": "payroll"}, "stringData": {"key": "do-not-leak"}}
    assert admin.post(f"/api/v1/namespaces/{name}/secrets", json=secret).status_code == 201

    with _as_user(real_node_cluster, "system:node:real-node-0") as kubelet:
        read = kubelet.get(f"/api/v1/namespaces/{name}/secrets/payroll")
        assert read.status_code == 403, read.text
        assert "do-not-leak" not in read.text
        assert kubelet.get("/api/v1/secrets").status_code == 403
        other = {"metadata": {"name": "kwok-node-0", "labels": {"stolen": "yes"}}}
        patched = kubelet.patch(
            "/api/v1/nodes/kwok-node-0",
            json=other,
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert patched.status_code == 403, patched.text
        assert kubelet.get("/api/v1/nodes/real-node-0").status_code == 200
    for user in ("system:kube-proxy", "system:tether:coredns"):
        with _as_user(real_node_cluster, user) as component:
            assert component.get(f"/api/v1/namespaces/{name}/secrets").status_code == 403
            assert component.get("/api/v1/services").status_code == 200
    labels = admin.get("/api/v1/nodes/kwok-node-0").json()["metadata"].get("labels", {})
    assert "stolen" not in labels
