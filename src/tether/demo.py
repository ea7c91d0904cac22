"""``make demo``: a local cluster, a Git server with the finance app, Tether and its UI.

Everything runs on this machine: the local control plane (real
kube-apiserver, controllers and scheduler, kwok nodes), ``git daemon``
serving a repository you can clone and push to, and ``tether controller``
with the web UI. Ctrl-C stops all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tether.adapters.kube import KubeClient
from tether.api.auth import new_token, token_secret_entry
from tether.cli.http import TOKENS_SECRET
from tether.cli.serve import surface_for
from tether.controller.install import install
from tether.controller.server import run
from tether.engine import application as appmodel
from tether.testenv import cluster as localcluster
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


async def setup(kubeconfig: str, repo_url: str) -> str:
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        await install(kube, "tether")
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
    print(
        "starting the local control plane (etcd, kube-apiserver, controller-manager, "
        "scheduler, kwok) ...",
        flush=True,
    )
    state = localcluster.up(state_dir, nodes=3, progress=lambda m: print(f"  {m}", flush=True))
    bare, work = prepare_repo(base)
    git_port = _free(9418)
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            f"--base-path={bare.parent}",
            f"--port={git_port}",
            "--listen=127.0.0.1",
            str(bare.parent),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    repo_url = f"git://127.0.0.1:{git_port}/{bare.name}"
    _git("remote", "set-url", "origin", repo_url, cwd=work)
    token = asyncio.run(setup(state.kubeconfig, repo_url))
    ui_port = _free(8080)
    print(
        f"""
Tether demo is running.

  Web UI:      http://127.0.0.1:{ui_port}/   (token: {token})
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
            kubeconfig=state.kubeconfig,
            namespace="tether",
            poll_interval=15.0,
            workers=8,
            helm_path=str(helm_path()) if helm_path().exists() else None,
            stop=stop,
            surface=surface_for(f"127.0.0.1:{ui_port}"),
        )

    try:
        asyncio.run(controller())
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGTERM)
        localcluster.down(state_dir)
        print("demo stopped", file=sys.stderr)


if __name__ == "__main__":
    main()
