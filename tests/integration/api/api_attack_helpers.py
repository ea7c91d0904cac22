"""Small helpers for the API attack tests: apply an Application, make and revoke tokens."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from fixtures.server import SERVER_NS, TETHER, TetherServer
from tether.engine import application as appmodel

KUBECTL = str(Path(sys.executable).with_name("kubectl"))


def apply_app(server: TetherServer, spec: dict[str, Any], name: str | None = None) -> str:
    name = name or f"atk-{secrets.token_hex(3)}"
    app = {
        "apiVersion": appmodel.API_VERSION,
        "kind": appmodel.KIND,
        "metadata": {"name": name, "namespace": server.namespace},
        "spec": spec,
    }
    subprocess.run(
        [KUBECTL, f"--kubeconfig={server.kubeconfig}", "apply", "-f", "-"],
        input=json.dumps(app),
        text=True,
        check=True,
        capture_output=True,
    )
    return name


def get_app(server: TetherServer, name: str) -> dict[str, Any]:
    out = subprocess.run(
        [KUBECTL, f"--kubeconfig={server.kubeconfig}", "-n", server.namespace, "get",
         "applications.tether.dev", name, "-o", "json"],
        text=True, check=True, capture_output=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def patch_status(server: TetherServer, name: str, patch: dict[str, Any]) -> None:
    subprocess.run(
        [KUBECTL, f"--kubeconfig={server.kubeconfig}", "-n", server.namespace, "patch",
         "applications.tether.dev", name, "--subresource=status", "--type=merge",
         "-p", json.dumps(patch)],
        text=True, check=True, capture_output=True,
    )  # fmt: skip


def tether(server: TetherServer, *args: str) -> str:
    out = subprocess.run(
        [TETHER, *args, "--kubeconfig", server.kubeconfig, "--app-namespace", SERVER_NS],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""


def create_token(server: TetherServer, name: str, role: str, project: str | None = None) -> str:
    extra = ["--project", project] if project else []
    return tether(server, "token", "create", name, "--role", role, *extra)


def server_process(server: TetherServer) -> psutil.Process:
    """The `tether controller` process serving ``server`` (a child of this test process)."""
    listen = server.url.removeprefix("http://").removeprefix("https://")
    for proc in psutil.Process().children(recursive=True):
        try:
            if listen in " ".join(proc.cmdline()):
                return proc
        except psutil.Error:
            continue
    raise AssertionError(f"no tether controller process listening on {listen}")
