"""The Helm chart charts/tether: it lints, renders, and says what `tether install` says.

`tether install` (Python) and the chart (templates) create the same RBAC, CRDs
and default Project; these tests compare the rendered chart with the Python
lists so the two cannot drift. No cluster needed: only the helm binary.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.controller import install
from tether.engine import projects
from tether.testenv.binaries import helm_path

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "tether"
NS = "tether-ops"

pytestmark = pytest.mark.skipif(
    not helm_path().exists(), reason="helm is installed by `make tools`"
)


def render(**values: Any) -> list[dict[str, Any]]:
    return install.render_chart(NS, values, helm_path=str(helm_path()))


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    hits = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(hits) == 1, f"{kind} {name}: {len(hits)} rendered"
    return hits[0]


def test_chart_passes_helm_lint() -> None:
    done = subprocess.run(
        [str(helm_path()), "lint", "--strict", str(CHART)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_package_ships_the_repository_chart() -> None:
    assert install.chart_dir().resolve() == CHART.resolve()


def test_chart_crds_are_the_crds_tether_install_applies() -> None:
    packaged = {c["metadata"]["name"]: c for c in install.crds()}
    shipped = {
        doc["metadata"]["name"]: doc
        for f in sorted((CHART / "crds").glob("*.yaml"))
        for doc in yaml.safe_load_all(f.read_text())
        if doc
    }
    assert shipped == packaged
    engine = ROOT / "src" / "tether" / "engine" / "crds"
    for name in install.CRD_FILES:
        assert (CHART / "crds" / name).read_bytes() == (engine / name).read_bytes(), name


def test_chart_rbac_is_the_rbac_of_tether_install() -> None:
    rendered = render()
    for want in install.rbac_objects(NS):
        got = find(rendered, want["kind"], want["metadata"]["name"])
        assert got["metadata"].get("namespace") == want["metadata"].get("namespace")
        assert install.LABELS.items() <= got["metadata"]["labels"].items()
        for field in ("rules", "roleRef", "subjects"):
            assert got.get(field) == want.get(field), f"{want['kind']} {field}"
    role = find(rendered, "ClusterRole", install.CONTROLLER)
    assert role["rules"] == install.controller_rules()
    leader = find(rendered, "Role", install.LEADER_ROLE)
    assert leader["rules"] == install.leader_rules()
    kinds = {o["kind"] for o in rendered}
    assert "ClusterRoleBinding" in kinds
    bound = [o for o in rendered if o["kind"] == "ClusterRoleBinding"]
    assert {b["roleRef"]["name"] for b in bound} == {install.CONTROLLER, "admin"}


def test_chart_default_project_is_the_one_tether_install_creates() -> None:
    got = find(render(), projects.KIND, projects.DEFAULT)
    want = projects.new_project(projects.DEFAULT, NS, projects.default_spec(NS))
    assert got["apiVersion"] == want["apiVersion"]
    assert got["metadata"]["namespace"] == NS
    assert got["spec"] == want["spec"]
    assert not [o for o in render(defaultProject={"create": False}) if o["kind"] == "Project"]


def test_controller_deployment_runs_two_non_root_replicas_with_leader_election() -> None:
    deploy = find(
        render(image={"ref": "registry.local/tether:1.2.3"}), "Deployment", "tether-controller"
    )
    assert deploy["spec"]["replicas"] == 2
    pod = deploy["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == install.CONTROLLER
    (ctr,) = pod["containers"]
    assert ctr["image"] == "registry.local/tether:1.2.3"
    assert ctr["args"][:4] == [
        "controller",
        "--leader-elect",
        "--listen=0.0.0.0:8080",
        f"--app-namespace={NS}",
    ]
    assert ctr["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert ctr["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert ctr["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}
    assert ctr["securityContext"]["readOnlyRootFilesystem"] is True
    assert ctr["securityContext"]["allowPrivilegeEscalation"] is False
    assert ctr["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["runAsNonRoot"] is True
    env = {e["name"]: e for e in ctr["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    mounts = {m["mountPath"]: m["name"] for m in ctr["volumeMounts"]}
    assert mounts[env["TETHER_CACHE_DIR"]["value"]] == "cache"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["cache"]
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert "TETHER_RENDER_ALLOW_NETWORK" not in env
    # a roll keeps one serving replica (and the leader releases its Lease on SIGTERM)
    assert deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_service_pdb_and_metrics_select_the_controller_pods() -> None:
    rendered = render(metrics={"serviceMonitor": {"enabled": True}})
    deploy = find(rendered, "Deployment", "tether-controller")
    pods = deploy["spec"]["template"]["metadata"]["labels"]
    service = find(rendered, "Service", "tether")
    assert service["spec"]["selector"].items() <= pods.items()
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    pdb = find(rendered, "PodDisruptionBudget", "tether-controller")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pods.items()
    monitor = find(rendered, "ServiceMonitor", "tether")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    assert endpoint["authorization"]["credentials"]["name"] == "tether-metrics-token"
    assert not [o for o in render() if o["kind"] == "ServiceMonitor"]


def test_tls_values_serve_https_and_probe_over_https() -> None:
    deploy = find(render(tls={"secretName": "tether-tls"}), "Deployment", "tether-controller")
    (ctr,) = deploy["spec"]["template"]["spec"]["containers"]
    assert "--tls-cert=/etc/tether/tls/tls.crt" in ctr["args"]
    assert ctr["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"


def test_install_controller_values_leave_the_default_project_to_tether_install() -> None:
    rendered = install.render_chart(
        NS, install.controller_values("r.local/t:9"), helm_path=str(helm_path())
    )
    assert not [o for o in rendered if o["kind"] == "Project"]
    deploy = find(rendered, "Deployment", "tether-controller")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "r.local/t:9"


def test_a_missing_chart_is_named() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(install.CHART_ENV, "/nonexistent/chart")
        with pytest.raises(install.ChartError, match="/nonexistent/chart"):
            install.chart_dir()


def test_the_chart_renders_as_an_application_source(tmp_path: Path) -> None:
    """Tether can deploy itself from Git: its own Helm renderer (sandboxed) reads the chart."""
    from tether.adapters.render import render as tether_render

    shutil.copytree(CHART, tmp_path / "charts" / "tether")
    objects = tether_render(
        str(tmp_path), {"path": "charts/tether"}, namespace=NS, helm_path=str(helm_path())
    )
    kinds = sorted(o["kind"] for o in objects)
    assert kinds.count("CustomResourceDefinition") == len(install.CRD_FILES)
    assert "Deployment" in kinds
    assert find(objects, "ClusterRole", install.CONTROLLER)["rules"] == install.controller_rules()


def test_the_render_sandbox_needs_unshare_so_only_the_container_leaves_runtime_default() -> None:
    deploy = find(render(), "Deployment", "tether-controller")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["containers"][0]["securityContext"]["seccompProfile"] == {"type": "Unconfined"}
    strict = find(render(controller={"renderSandbox": False}), "Deployment", "tether-controller")
    assert (
        "seccompProfile"
        not in strict["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    )


def test_every_object_carries_the_install_label_and_every_kind_is_prunable() -> None:
    from tether.controller.install_prune import INSTALL_LABEL, NEVER_PRUNED_KINDS, PRUNABLE_KINDS

    everything = render(
        image={"ref": "r/tether:0.1.0"},
        metrics={"serviceMonitor": {"enabled": True}},
        podDisruptionBudget={"enabled": True},
        defaultProject={"create": True},
        tls={"secretName": "tls"},
    )
    prunable = set(PRUNABLE_KINDS)
    for obj in everything:
        assert obj["metadata"]["labels"][INSTALL_LABEL] == NS, obj["kind"]
        kind = (obj["apiVersion"], obj["kind"])
        assert kind in prunable or obj["kind"] in NEVER_PRUNED_KINDS, kind
