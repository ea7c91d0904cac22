"""The images run: runc on what was pulled from the registry, containerd 2 on the archives.

So "the finance app answers its tag" is a real container answering over HTTP,
and the tether image is shown to work as its unprivileged user.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_tools import Containerd, authfile, bundle, container_reason, get_json, pull, running

from fixtures.registry import RegistryServer, free_port
from tether.testenv import images, nodebinaries


@pytest.fixture
def runc_state(tmp_path: Path) -> Path:
    reason = container_reason()
    if reason:
        pytest.skip(reason)
    state = tmp_path / "runc"
    state.mkdir()
    return state


def test_finance_app_pulled_from_the_registry_answers_with_its_tag_in_a_container(
    registry_server: RegistryServer, pushed: dict[str, str], runc_state: Path, tmp_path: Path
) -> None:
    auth = authfile(tmp_path, registry_server.host, "ci", registry_server.users["ci"])
    layout = tmp_path / "pulled"
    assert pull(pushed["finance-api"], auth, layout, "1.4").returncode == 0
    port = free_port()
    spec = bundle(layout, "1.4", tmp_path / "bundle", {"PORT": str(port)})
    with running(spec, runc_state):
        base = f"http://127.0.0.1:{port}"
        assert get_json(f"{base}/healthz") == {"status": "ok"}
        version = get_json(f"{base}/version")
        assert version["version"] == "1.4" and version["service"] == "finance-api"
        summary = get_json(f"{base}/")
        assert summary["currency"] == "EUR" and summary["lines"]
        status = subprocess.run(
            ["runc", "--root", str(runc_state), "list", "--format", "json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        pid = json.loads(status.stdout)[0]["pid"]
        assert Path(f"/proc/{pid}/status").read_text().count("65532") >= 2  # runs as nobody


def test_tether_image_renders_the_example_helm_chart_as_its_unprivileged_user(
    built_tether: images.Image, runc_state: Path, tmp_path: Path
) -> None:
    spec_dir = bundle(built_tether.layout, built_tether.tag, tmp_path / "bundle", {})
    spec_path = spec_dir / "config.json"
    spec = json.loads(spec_path.read_text())
    assert spec["process"]["user"]["uid"] == 10001
    chart = Path(images.repo_root(), "examples", "finance-app")
    spec["mounts"].append(
        {"destination": "/src", "type": "bind", "source": str(chart), "options": ["rbind", "ro"]}
    )
    spec["process"]["args"] = [
        "/usr/local/bin/tether", "render", "/src", "--path", "helm/finance-app",
    ]  # fmt: skip
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.run(
        ["runc", "--root", str(runc_state), "run", "--bundle", str(spec_dir),
         f"tether-img-{uuid.uuid4().hex[:8]}"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "kind: Deployment" in proc.stdout and "finance-api" in proc.stdout


@pytest.fixture
def containerd(runc_state: Path) -> Iterator[Containerd]:
    bins = nodebinaries.NodeBinaries.paths()
    if not bins.ctr.exists():
        pytest.skip("containerd is not built here: tether cluster build --real-nodes")
    directory = Path(tempfile.mkdtemp(prefix="ctd-", dir="/tmp"))  # sockets need short paths
    daemon = Containerd(bins, directory)
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_containerd_imports_the_exported_archive_and_runs_the_finance_app(
    built_finance: images.Image, containerd: Containerd, tmp_path: Path
) -> None:
    name = "127.0.0.1:5000/finance-api:1.4"
    archive = images.export_archive(built_finance, tmp_path / "finance.tar", name)
    containerd.ctr("images", "import", str(archive))
    listed = containerd.ctr("images", "ls").stdout
    assert name in listed and built_finance.digest in listed
    port, cid = free_port(), f"finance-{uuid.uuid4().hex[:8]}"
    containerd.ctr("run", "--detach", "--net-host", "--env", f"PORT={port}", name, cid)
    try:
        assert get_json(f"http://127.0.0.1:{port}/version")["version"] == "1.4"
    finally:
        containerd.remove(cid)
    assert cid not in containerd.ctr("tasks", "ls").stdout


def test_containerd_runs_the_tether_image_as_its_user_and_renders_only_in_the_sandbox(
    built_tether: images.Image, containerd: Containerd, tmp_path: Path
) -> None:
    name = f"127.0.0.1:5000/tether:{built_tether.tag}"
    archive = images.export_archive(built_tether, tmp_path / "tether.tar", name)
    containerd.ctr("images", "import", str(archive))
    cid = f"tether-{uuid.uuid4().hex[:8]}"
    ran = containerd.ctr("run", "--rm", name, cid, "/usr/bin/id", "-u", check=False)
    assert ran.returncode == 0 and ran.stdout.strip() == "10001", ran.stderr
    helped = containerd.ctr("run", "--rm", name, cid + "-help", check=False)
    assert helped.returncode == 0, helped.stderr[-2000:]
    assert "Usage: tether" in helped.stdout and "controller" in helped.stdout

    example = Path(images.repo_root(), "examples", "finance-app")
    mount = f"type=bind,src={example},dst=/src,options=rbind:ro"
    render = ["/usr/local/bin/tether", "render", "/src", "--path", "kustomize/base"]
    rendered = containerd.ctr("run", "--rm", "--mount", mount, name, cid + "-r", *render)
    assert "kind: Deployment" in rendered.stdout
    # Attack: a runtime profile that forbids the render sandbox (the default seccomp
    # profile blocks unshare) must not make renders quietly use the controller's network.
    confined = containerd.ctr(
        "run", "--rm", "--seccomp", "--mount", mount, name, cid + "-s", *render, check=False
    )  # fmt: skip
    assert confined.returncode != 0 and "kind: Deployment" not in confined.stdout
    assert "TETHER_RENDER_ALLOW_NETWORK" in confined.stdout + confined.stderr


def test_containerd_pulls_the_finance_image_from_the_registry_only_with_credentials(
    registry_server: RegistryServer,
    pushed: dict[str, str],
    built_finance: images.Image,
    containerd: Containerd,
) -> None:
    reference = pushed["finance-api"]
    for login in ([], ["--user", "ci:wrong-password"]):
        denied = containerd.ctr("images", "pull", "--plain-http", *login, reference, check=False)
        assert denied.returncode != 0
        assert "authorization failed" in denied.stderr or "401" in denied.stderr
        assert reference not in containerd.ctr("images", "ls", "--quiet").stdout
    login = f"ci:{registry_server.users['ci']}"  # a throwaway test password
    containerd.ctr("images", "pull", "--plain-http", "--user", login, reference)
    listed = containerd.ctr("images", "ls").stdout
    assert reference in listed and built_finance.digest in listed
