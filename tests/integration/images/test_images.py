"""The images built without a daemon: pushed to the authenticated registry, pulled back, run.

Everything here uses the real tools a cluster would: skopeo talks to Debian's
docker-registry with htpasswd, umoci unpacks what was pulled into a runtime
bundle, and runc runs it, so "the finance app answers its tag" is a real
container answering over HTTP.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from fixtures.registry import RegistryServer, free_port
from tether.cli.main import cli
from tether.testenv import images, nodebinaries

TETHER_IMAGE_BUDGET = 200_000_000  # compressed bytes a pull of the tether image may transfer
FINANCE_IMAGE_BUDGET = 10_000_000


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, timeout=300, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"skopeo {args[0]} failed: {proc.stderr}")
    return proc


def authfile(tmp_path: Path, registry: str, user: str | None, password: str) -> Path:
    """An auth file with one login (or none): skopeo sees only what the test gives it."""
    path = tmp_path / f"auth-{uuid.uuid4().hex[:8]}.json"
    auths: dict[str, Any] = {}
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        auths[registry] = {"auth": token}
    path.write_text(json.dumps({"auths": auths}))
    return path


def pull(reference: str, auth: Path, target: Path, tag: str) -> subprocess.CompletedProcess[str]:
    return skopeo(
        "copy", "--quiet", "--src-tls-verify=false", f"--src-authfile={auth}",
        f"docker://{reference}", f"oci:{target}:{tag}", check=False,
    )  # fmt: skip


def container_reason() -> str | None:
    if os.geteuid() != 0:
        return "running a container with runc needs root"
    missing = [tool for tool in ("runc", "umoci") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} missing: apt-get install runc umoci"
    return None


def bundle(layout: Path, tag: str, target: Path, env: dict[str, str]) -> Path:
    """umoci's runtime bundle of the image, sharing the host network (no CNI here)."""
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:{tag}", str(target)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    path = target / "config.json"
    spec = json.loads(path.read_text())
    process = spec["process"]
    process["terminal"] = False
    keep = [e for e in process["env"] if e.split("=", 1)[0] not in env]
    process["env"] = keep + [f"{k}={v}" for k, v in env.items()]
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "network"]
    path.write_text(json.dumps(spec))
    return target


@contextlib.contextmanager
def running(bundle_dir: Path, state: Path) -> Iterator[str]:
    """Run the bundle detached under its own runc root; kill and delete it afterwards."""
    cid = f"tether-img-{uuid.uuid4().hex[:8]}"
    log = bundle_dir.parent / f"{cid}.log"
    runc = ["runc", "--root", str(state)]
    with open(log, "wb") as out:
        subprocess.run(
            [*runc, "run", "--detach", "--bundle", str(bundle_dir), cid],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL, check=True, timeout=60,
        )  # fmt: skip
    try:
        yield cid
    finally:
        subprocess.run([*runc, "kill", cid, "KILL"], capture_output=True, check=False)
        subprocess.run([*runc, "delete", "--force", cid], capture_output=True, check=False)


def get_json(url: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.get(url, timeout=2)
            response.raise_for_status()
            return dict(response.json())
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# --------------------------------------------------------------------- builds


def test_finance_image_is_cached_by_recipe_and_a_new_tag_only_changes_its_config(
    built_finance: images.Image,
) -> None:
    again = images.finance_app_image("1.4")
    assert again.digest == built_finance.digest
    assert again.seconds < 5
    other = images.finance_app_image("1.5")
    assert other.digest != built_finance.digest
    assert [layer.digest for layer in other.layers] == [
        layer.digest for layer in built_finance.layers
    ]
    assert built_finance.size < FINANCE_IMAGE_BUDGET


def test_finance_image_is_reproducible_from_its_sources(tmp_path: Path) -> None:
    first = images.finance_app_image("1.4", root=tmp_path / "a")
    second = images.finance_app_image("1.4", root=tmp_path / "b")
    assert first.digest == second.digest


def test_tether_image_is_cached_and_within_its_size_budget(built_tether: images.Image) -> None:
    again = images.tether_image()
    # The Debian and dependency layers come from the cache; the tether layer is rebuilt
    # only when the source changed in between (it does while engineers edit the tree).
    assert [layer.digest for layer in again.layers[:2]] == [
        layer.digest for layer in built_tether.layers[:2]
    ]
    assert again.seconds < 30
    assert built_tether.size < TETHER_IMAGE_BUDGET, built_tether.size
    print(
        f"tether image {built_tether.size / 1e6:.1f} MB compressed, "
        f"{built_tether.uncompressed / 1e6:.1f} MB unpacked; "
        f"first build this session {built_tether.seconds:.1f}s"
    )


def test_tether_image_has_no_set_id_programs_and_names_its_unprivileged_user(
    built_tether: images.Image,
) -> None:
    base = built_tether.layers[0]
    setid: list[str] = []
    passwd = ""
    with tarfile.open(base.blob, "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.mode & 0o6000:
                setid.append(member.name)
            if member.name == "etc/passwd":
                passwd = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
    assert setid == []  # su, mount, passwd, ... lose their set-id bits
    assert "tether:x:10001:10001:" in passwd
    assert built_tether.config.user == "10001:10001"


def test_an_image_tag_that_is_a_path_is_refused() -> None:
    for tag in ("../../outside", "a/b", "", "-rm"):
        with pytest.raises(images.ImageBuildError, match="invalid image tag"):
            images.finance_app_image(tag or " ")
    assert not (images.images_dir().parent / "outside").exists()


def test_exported_archive_is_an_oci_archive_named_for_ctr_import(
    built_finance: images.Image, tmp_path: Path
) -> None:
    name = "127.0.0.1:5000/finance-api:1.4"
    archive = images.export_archive(built_finance, tmp_path / "finance.tar", name)
    with tarfile.open(archive) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    entry = index["manifests"][0]
    assert entry["annotations"]["io.containerd.image.name"] == name
    assert entry["digest"] == built_finance.digest
    inspected = json.loads(skopeo("inspect", f"oci-archive:{archive}").stdout)
    assert inspected["Digest"] == built_finance.digest


# --------------------------------------------------------------------- registry


def test_pushed_images_pull_back_with_credentials_and_keep_their_digests(
    registry_server: RegistryServer,
    pushed: dict[str, str],
    built_finance: images.Image,
    built_tether: images.Image,
    tmp_path: Path,
) -> None:
    auth = authfile(tmp_path, registry_server.host, "ci", registry_server.users["ci"])
    for image in (built_finance, built_tether):
        reference = pushed[image.name]
        inspected = json.loads(
            skopeo(
                "inspect", "--tls-verify=false", f"--authfile={auth}", f"docker://{reference}"
            ).stdout
        )
        assert inspected["Digest"] == image.digest
        target = tmp_path / f"pulled-{image.name}"
        result = pull(reference, auth, target, image.tag)
        assert result.returncode == 0, result.stderr
        index = json.loads((target / "index.json").read_text())
        assert index["manifests"][0]["digest"] == image.digest


def test_pulls_without_or_with_wrong_credentials_are_refused(
    registry_server: RegistryServer, pushed: dict[str, str], tmp_path: Path
) -> None:
    reference = pushed["finance-api"]
    for auth in (
        authfile(tmp_path, registry_server.host, None, ""),
        authfile(tmp_path, registry_server.host, "ci", "not-the-password"),
    ):
        result = pull(reference, auth, tmp_path / "denied", "1.4")
        assert result.returncode != 0
        assert "unauthorized" in result.stderr.lower() or "authentication" in result.stderr.lower()
        assert not (tmp_path / "denied" / "blobs").exists() or not any(
            (tmp_path / "denied" / "blobs").rglob("*")
        )


def test_push_keeps_the_password_off_command_lines_and_out_of_errors(
    registry_server: RegistryServer,
    built_finance: images.Image,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[list[str]] = []
    real_run = subprocess.run

    def spy(cmd: list[str], *args: Any, **kwargs: Any) -> Any:
        seen.append(list(cmd))
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    secret = "hunter2-" + uuid.uuid4().hex
    with pytest.raises(images.ImageBuildError) as refused:
        images.push(built_finance, registry_server.host, "ci", secret, tls_verify=False)
    assert secret not in str(refused.value)
    assert (
        "unauthorized" in str(refused.value).lower()
        or "authentication" in str(refused.value).lower()
    )
    password = registry_server.users["ci"]
    images.push(built_finance, registry_server.host, "ci", password, tls_verify=False)
    assert seen and all(secret not in arg and password not in arg for c in seen for arg in c)


def test_image_configs_pulled_from_the_registry_say_how_they_run(
    registry_server: RegistryServer, pushed: dict[str, str], tmp_path: Path
) -> None:
    auth = authfile(tmp_path, registry_server.host, "ci", registry_server.users["ci"])

    def config(reference: str) -> dict[str, Any]:
        raw = skopeo("inspect", "--config", "--tls-verify=false", f"--authfile={auth}",
                     f"docker://{reference}").stdout  # fmt: skip
        return dict(json.loads(raw)["config"])

    finance = config(pushed["finance-api"])
    assert finance["Entrypoint"] == ["/finance-api"]
    assert finance["User"] == "65532:65532"
    assert "FINANCE_API_VERSION=1.4" in finance["Env"]
    assert finance["Labels"]["org.opencontainers.image.version"] == "1.4"
    assert "8080/tcp" in finance["ExposedPorts"]

    tether = config(pushed["tether"])
    assert tether["Entrypoint"] == ["/usr/local/bin/tether"]
    assert tether["User"] == "10001:10001"
    assert "TETHER_HELM=/usr/local/bin/helm" in tether["Env"]
    assert tether["Labels"]["org.opencontainers.image.title"] == "tether"


# --------------------------------------------------------------------- containers


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


def test_cli_builds_exports_and_pushes_with_the_password_from_stdin(
    registry_server: RegistryServer, tmp_path: Path
) -> None:
    user, password = registry_server.add_user("cli-pusher")
    result = CliRunner().invoke(
        cli,
        ["cluster", "images", "finance-api", "--tag", "1.6", "--export", str(tmp_path),
         "--push", registry_server.host, "--username", user, "--insecure"],
        input=password + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert password not in result.output
    reference = f"{registry_server.host}/finance-api:1.6"
    assert reference in result.output
    assert (tmp_path / "finance-api-1.6.tar").exists()
    auth = authfile(tmp_path, registry_server.host, user, password)
    config = skopeo("inspect", "--config", "--tls-verify=false", f"--authfile={auth}",
                    f"docker://{reference}").stdout  # fmt: skip
    assert "FINANCE_API_VERSION=1.6" in json.loads(config)["config"]["Env"]


class Containerd:
    """A private containerd 2 (CRI off) on a socket of its own; ``ctr(...)`` talks to it."""

    def __init__(self, bins: nodebinaries.NodeBinaries, directory: Path) -> None:
        self.bins = bins
        self.dir = directory
        self.socket = directory / "containerd.sock"
        self.env = dict(os.environ, PATH=f"{bins.containerd_dir}:/usr/sbin:/usr/bin:/sbin:/bin")
        config = directory / "config.toml"
        config.write_text(
            "version = 3\n"
            f'root = "{directory}/root"\nstate = "{directory}/state"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images",'
            ' "io.containerd.cri.v1.runtime"]\n'
            f'[grpc]\n  address = "{self.socket}"\n'
            f'[ttrpc]\n  address = "{self.socket}.ttrpc"\n'
        )
        self.log = open(directory / "containerd.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [str(bins.containerd), f"--config={config}"],
            stdout=self.log, stderr=self.log, env=self.env,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while self.ctr("version", check=False).returncode != 0:
            assert self.proc.poll() is None, (directory / "containerd.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "containerd did not answer"
            time.sleep(0.2)

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.bins.ctr), f"--address={self.socket}", "--namespace=tether-test", *args],
            capture_output=True, text=True, env=self.env, timeout=120, check=False,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)}: {proc.stderr[-2000:]}")
        return proc

    def remove(self, cid: str) -> None:
        self.ctr("tasks", "kill", "--signal", "SIGKILL", cid, check=False)
        deadline = time.monotonic() + 10
        while self.ctr("tasks", "delete", cid, check=False).returncode != 0:
            if time.monotonic() > deadline or cid not in self.ctr("tasks", "ls").stdout:
                break
            time.sleep(0.2)
        self.ctr("containers", "delete", cid, check=False)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in reversed([m for m in mounts if m.startswith(str(self.dir))]):
            subprocess.run(["umount", mount], capture_output=True, check=False)


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
