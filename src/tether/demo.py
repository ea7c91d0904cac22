"""``make demo``: a local cluster, a Git server with the finance app, Tether and its UI.

Everything runs on this machine: the local control plane (real
kube-apiserver, controllers and scheduler, kwok nodes), ``git daemon``
serving a repository you can clone and push to, and ``tether controller``
with the web UI over HTTPS, with a self-signed certificate made on first run
(the UI carries a token, which must not cross a network in clear). Ctrl-C
stops all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tether import demo_incluster
from tether.adapters.kube import KubeClient
from tether.api.auth import new_token, token_secret_entry
from tether.cli.http import TOKENS_SECRET, HttpOptions
from tether.cli.serve import surface_for
from tether.controller.install import controller_kubeconfig, install
from tether.controller.server import run
from tether.engine import application as appmodel
from tether.testenv import cluster as localcluster
from tether.testenv import hostcheck
from tether.testenv.binaries import cache_dir, helm_path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "finance-app" / "plain"


def _free(port: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return port
        except OSError:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])


def _git(*args: str, cwd: Path) -> None:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="demo",
        GIT_AUTHOR_EMAIL="demo@localhost",
        GIT_COMMITTER_NAME="demo",
        GIT_COMMITTER_EMAIL="demo@localhost",
    )
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def self_signed_certificate(directory: Path, days: int = 365) -> tuple[Path, Path]:
    """``tls.crt`` and ``tls.key`` (P-256) for localhost and 127.0.0.1, made once and reused."""
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
            return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tether demo (self-signed)")])
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def git_daemon(root: Path, port: int, addresses: list[str]) -> subprocess.Popen[bytes]:
    """``git daemon`` serving (and accepting pushes to) the repositories under ``root``."""
    return subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            f"--base-path={root}",
            f"--port={port}",
            *(f"--listen={address}" for address in addresses),
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def prepare_repo(base: Path) -> tuple[Path, Path]:
    """A bare repository served by git daemon, and a working clone to edit and push from."""
    served = base / "git"
    bare = served / "finance-app-k8s.git"
    work = base / "finance-app-k8s"
    if bare.exists():
        return bare, work
    served.mkdir(parents=True, exist_ok=True)
    _git("init", "--bare", "-b", "main", str(bare), cwd=base)
    (bare / "git-daemon-export-ok").touch()
    _git("clone", str(bare), str(work), cwd=base)
    shutil.copytree(EXAMPLE, work / "apps" / "finance", dirs_exist_ok=True)
    _git("checkout", "-b", "main", cwd=work)
    _git("add", ".", cwd=work)
    _git("commit", "-m", "finance app: 1 replica", cwd=work)
    _git("push", "origin", "main", cwd=work)
    return bare, work


async def setup(kubeconfig: str, repo_url: str, controller_config: Path) -> str:
    """Install Tether, write the controller's own kubeconfig, and create the finance app."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        await install(kube, "tether")
        # The controller runs as its least-privilege ServiceAccount, as in production.
        config = await controller_kubeconfig(kube, "tether")
        controller_config.write_text(yaml.safe_dump(config, sort_keys=False))
        controller_config.chmod(0o600)
        token = new_token()
        user, encoded = token_secret_entry("demo-admin", "admin", token)
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": TOKENS_SECRET, "namespace": "tether"},
            "data": {user: encoded},
        }
        await kube.apply(secret, field_manager="tether-demo")
        spec = appmodel.parse_spec(
            {
                "source": {"repoURL": repo_url, "path": "apps/finance", "targetRevision": "main"},
                "destination": {"namespace": "finance"},
                "syncPolicy": {
                    "automated": {"prune": True, "selfHeal": True},
                    "syncOptions": ["CreateNamespace=true"],
                },
            }
        )
        app = appmodel.new_application("finance", "tether", spec)
        await kube.apply(app, field_manager="tether-demo")
        return token


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    base = cache_dir() / "demo"
    base.mkdir(parents=True, exist_ok=True)
    state_dir = base / "cluster"
    state = localcluster.ClusterState.load(state_dir)
    if state is not None:
        localcluster.down(state_dir)
    if (
        hostcheck.default_real_nodes()
        and demo_incluster.available()
        and os.environ.get("TETHER_DEMO_REAL_NODES", "1") != "0"
    ):
        main_in_cluster(base, state_dir)
        return
    print(
        "starting the local control plane (etcd, kube-apiserver, controller-manager, "
        "scheduler, kwok) ...",
        flush=True,
    )
    state = localcluster.up(state_dir, nodes=3, progress=lambda m: print(f"  {m}", flush=True))
    bare, work = prepare_repo(base)
    git_port = _free(9418)
    daemon = git_daemon(bare.parent, git_port, ["127.0.0.1"])
    repo_url = f"git://127.0.0.1:{git_port}/{bare.name}"
    _git("remote", "set-url", "origin", repo_url, cwd=work)
    controller_config = base / "controller.kubeconfig"
    token = asyncio.run(setup(state.kubeconfig, repo_url, controller_config))
    ui_port = _free(8080)
    cert, key = self_signed_certificate(base / "tls")
    print(
        f"""
Tether demo is running.

  Web UI:      https://127.0.0.1:{ui_port}/   (token: {token})
               self-signed certificate: {cert}
               (accept it in the browser; curl --cacert {cert} ...)
  KUBECONFIG:  export KUBECONFIG={state.kubeconfig}
  Git repo:    {repo_url}   (working clone: {work})

Try the seed story:
  1. kubectl get pods -n finance                      # one finance-api pod
  2. cd {work} && sed -i 's/replicas: 1/replicas: 3/' apps/finance/deployment.yaml \\
       && git commit -am 'scale to 3' && git push      # three pods within seconds
  3. kubectl scale deploy/finance-api -n finance --replicas=5   # self-heal puts it back
  4. tether app tree finance ; tether app history finance ; tether app explain finance
  5. change the image tag, push, then: tether app rollback finance ; tether app resume finance

Ctrl-C stops the controller, the Git server and the cluster.
""",
        flush=True,
    )
    os.environ["KUBECONFIG"] = state.kubeconfig

    async def controller() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(
            kubeconfig=str(controller_config),
            namespace="tether",
            poll_interval=15.0,
            workers=8,
            helm_path=str(helm_path()) if helm_path().exists() else None,
            stop=stop,
            surface=surface_for(
                f"127.0.0.1:{ui_port}", HttpOptions(tls_cert=str(cert), tls_key=str(key))
            ),
        )

    try:
        asyncio.run(controller())
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGTERM)
        localcluster.down(state_dir)
        print("demo stopped", file=sys.stderr)


def main_in_cluster(base: Path, state_dir: Path) -> None:
    """The demo on a real node: images in a registry that needs a password, Tether
    installed in the cluster by its chart, the finance app really answering."""
    print("starting the local control plane with a real node ...", flush=True)
    state = localcluster.up(
        state_dir, nodes=2, real_nodes=1, progress=lambda m: print(f"  {m}", flush=True)
    )
    registry: demo_incluster.Registry | None = None
    daemon: subprocess.Popen[bytes] | None = None
    try:
        registry = demo_incluster.start_registry(base / "registry", _free(5000))
        print("building and pushing the finance-api and tether images ...", flush=True)
        finance_image, tether_image = demo_incluster.push_images(registry, Path(state.directory))
        # A repository of its own: its manifests name the demo registry and the real node.
        bare, work = prepare_repo(base / "real-node")
        demo_incluster.finance_manifests(work, finance_image)
        if subprocess.run(["git", "diff", "--quiet"], cwd=work, check=False).returncode:
            _git("commit", "-am", "finance app from the demo registry", cwd=work)
        node_ip = asyncio.run(demo_incluster.node_address(state.kubeconfig))
        git_port = _free(9418)
        daemon = git_daemon(bare.parent, git_port, ["127.0.0.1", node_ip])
        time.sleep(0.5)
        _git("remote", "set-url", "origin", f"git://127.0.0.1:{git_port}/{bare.name}", cwd=work)
        _git("push", "-q", "origin", "main", cwd=work)
        repo_url = f"git://{node_ip}:{git_port}/{bare.name}"
        print("installing Tether in the cluster (two replicas, leader election) ...", flush=True)
        token, ui, app = asyncio.run(
            demo_incluster.install_and_wait(
                state.kubeconfig,
                registry,
                tether_image,
                lambda: setup(state.kubeconfig, repo_url, base / "controller.kubeconfig"),
            )
        )
        print(
            f"""
Tether demo is running, in the cluster, on a real node.

  Web UI:      {ui}/   (token: {token})
  Finance app: {app}/version   (a real container, pulled with the pull secret ecr-pull)
  KUBECONFIG:  export KUBECONFIG={state.kubeconfig}
  Git repo:    git://127.0.0.1:{git_port}/{bare.name}   (working clone: {work})
  Registry:    {registry.host} (user {registry.user}; the "ECR" of the story)

Try the seed story:
  1. kubectl get pods -n finance -o wide               # one finance-api pod on the real node
  2. cd {work} && sed -i 's/replicas: 1/replicas: 3/' apps/finance/deployment.yaml \\
       && git commit -am 'scale to 3' && git push      # three answering pods
  3. kubectl scale deploy/finance-api -n finance --replicas=5   # self-heal puts it back
  4. tether app tree finance ; tether app history finance ; tether app explain finance
  5. kubectl get pods -n tether ; kubectl delete pod -n tether <the leader>   # the other takes over

Ctrl-C stops the Git server, the registry and the cluster.
""",
            flush=True,
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
    finally:
        if daemon is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(daemon.pid, signal.SIGTERM)
        if registry is not None:
            registry.stop()
        localcluster.down(state_dir)
        print("demo stopped", file=sys.stderr)


if __name__ == "__main__":
    main()
