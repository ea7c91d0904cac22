"""Real nodes run real containers: Pods answer HTTP, Services route, DNS resolves, pulls auth.

Everything here runs on the machine: containerd 2 with Debian's runc, the
kubelet and kube-proxy built with the control plane, CoreDNS, an image built
locally from Debian's static busybox, and the local registry with htpasswd.
``down`` is checked against a snapshot of the host taken before ``up``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
from realnode_support import (
    HELLO,
    import_hello,
    pod_spec,
    run_pod,
    wait,
)

from tether.testenv import cluster as localcluster
from tether.testenv import nodeconfig, ociarchive, realnode
from tether.testenv.nodebinaries import NodeBinaries


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
    real_node_cluster: localcluster.ClusterState, real_ns: tuple[httpx.Client, str]
) -> None:
    client, name = real_ns
    body = f"hello from {name}\n"
    import_hello(real_node_cluster, body)
    pod, seconds = run_pod(client, name, pod_spec("hello", HELLO))
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

    assert wait(via_service, "kube-proxy to route the ClusterIP", 30) == body


def test_a_pod_reaches_a_service_by_its_cluster_dns_name(
    real_node_cluster: localcluster.ClusterState, real_ns: tuple[httpx.Client, str]
) -> None:
    client, name = real_ns
    body = f"dns answer {name}\n"
    import_hello(real_node_cluster, body)
    run_pod(client, name, pod_spec("web", HELLO))
    svc = {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    assert client.post(f"/api/v1/namespaces/{name}/services", json=svc).status_code == 201
    url = f"http://web.{name}.svc.cluster.local/"
    # Retries inside the Pod (a new Service takes a moment to reach CoreDNS and
    # kube-proxy); the last attempt shows its error in the log.
    script = (
        f"for i in $(/bin/busybox seq 60); do /bin/busybox wget -q -O - {url} 2>/dev/null "
        f"&& exit 0; /bin/busybox sleep 1; done; /bin/busybox wget -O - {url}; exit 1"
    )
    getter = pod_spec(
        "getter",
        HELLO,
        restartPolicy="Never",
        container={"command": ["/bin/busybox", "sh", "-c", script]},
    )
    getter["spec"]["containers"][0].pop("readinessProbe")
    assert client.post(f"/api/v1/namespaces/{name}/pods", json=getter).status_code == 201

    def finished() -> str | None:
        phase = client.get(f"/api/v1/namespaces/{name}/pods/getter").json()["status"].get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    phase = wait(finished, "the getter pod to finish")
    logs = client.get(f"/api/v1/namespaces/{name}/pods/getter/log")
    assert logs.status_code == 200, logs.text
    assert phase == "Succeeded", logs.text
    assert logs.text == body

    cluster_ip = client.get(f"/api/v1/namespaces/{name}/services/web").json()["spec"]["clusterIP"]
    lookup = subprocess.run(
        ["busybox", "nslookup", f"web.{name}.svc.cluster.local", "10.0.0.10"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert f"Address: {cluster_ip}" in lookup.stdout, lookup.stdout + lookup.stderr


def test_a_pod_reaches_the_api_through_the_kubernetes_service(
    real_node_cluster: localcluster.ClusterState, real_ns: tuple[httpx.Client, str]
) -> None:
    client, name = real_ns
    import_hello(real_node_cluster, "unused\n")
    probe = pod_spec(
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
    wait(
        lambda: (
            client.get(f"/api/v1/namespaces/{name}/pods/api-probe").json()["status"].get("phase")
            == "Succeeded"
        ),
        "a TCP connection from a Pod to kubernetes.default.svc:443",
    )


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
    real_node_cluster: localcluster.ClusterState, real_ns: tuple[httpx.Client, str], tmp_path: Path
) -> None:
    client, name = real_ns
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
    pod = pod_spec("caller", image.ref, restartPolicy="OnFailure")
    pod["spec"]["containers"][0].pop("readinessProbe")
    assert client.post(f"/api/v1/namespaces/{name}/pods", json=pod).status_code == 201
    wait(
        lambda: (
            client.get(f"/api/v1/namespaces/{name}/pods/caller").json()["status"].get("phase")
            == "Succeeded"
        ),
        "the in-cluster API call to succeed",
    )
    logs = client.get(f"/api/v1/namespaces/{name}/pods/caller/log").text
    assert logs.startswith("200 "), logs
