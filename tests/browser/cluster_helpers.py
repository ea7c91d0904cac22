"""Helpers for the browser tests against the real control plane (``tether_server``).

Applications are created with the real kubectl in the server's namespace, Git
changes are pushed to the test Git server and announced with a signed
GitHub-style push webhook, and the API is read with the tokens the server made.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from fixtures.server import TetherServer
from fixtures.tether import example_files
from fixtures.waiting import wait_for
from tether.engine import application as appmodel
from tether.engine.webhook import sign

KUBECTL = str(Path(sys.executable).with_name("kubectl"))
DEPLOYMENT = "apps/finance/deployment.yaml"
TIMEOUT = 30_000  # ms, for playwright's auto-waiting expectations


def kubectl(server: TetherServer, *args: str, input: str | None = None) -> str:
    done = subprocess.run(
        [KUBECTL, f"--kubeconfig={server.kubeconfig}", *args],
        input=input,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def create_app(server: TetherServer, repo_url: str, dest: str, prefix: str = "ui") -> str:
    """An auto-synced (prune + selfHeal) Application of apps/finance into ``dest``."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    app = {
        "apiVersion": appmodel.API_VERSION,
        "kind": appmodel.KIND,
        "metadata": {"name": name, "namespace": server.namespace},
        "spec": {
            "source": {"repoURL": repo_url, "path": "apps/finance", "targetRevision": "main"},
            "destination": {"namespace": dest},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }
    kubectl(server, "apply", "-f", "-", input=json.dumps(app))
    return name


def delete_app(server: TetherServer, name: str) -> None:
    subprocess.run(
        [
            KUBECTL,
            f"--kubeconfig={server.kubeconfig}",
            "-n",
            server.namespace,
            "delete",
            f"{appmodel.KIND.lower()}s.{appmodel.API_VERSION.split('/')[0]}",
            name,
            "--ignore-not-found",
            "--wait=false",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )


def status(server: TetherServer, name: str) -> dict[str, Any]:
    with server.admin() as http:
        r = http.get(f"/api/v1/apps/{name}")
    return (r.json().get("status") or {}) if r.status_code == 200 else {}


def wait_synced_healthy(
    server: TetherServer, name: str, message: str | None = None
) -> dict[str, Any]:
    """Wait (through the API) until the app is Synced and Healthy, at ``message`` if given."""

    def ready() -> dict[str, Any] | None:
        st = status(server, name)
        ok = (
            st.get("sync", {}).get("status") == "Synced"
            and st.get("health", {}).get("status") == "Healthy"
            and (
                message is None
                or (bool(st.get("history")) and st["history"][-1]["message"] == message)
            )
        )
        return st if ok else None

    return wait_for(
        ready,
        timeout=60,
        what=f"{name} Synced and Healthy" + (f" at {message!r}" if message else ""),
    )


def push_webhook(server: TetherServer, repo_url: str) -> list[str]:
    """A signed GitHub push event for ``repo_url``; the apps it refreshed."""
    body = json.dumps({"ref": "refs/heads/main", "repository": {"clone_url": repo_url}}).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": sign(server.webhook_secret, body),
        "Content-Type": "application/json",
    }
    with server.client() as http:
        r = http.post("/api/webhook", content=body, headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json().get("refreshed") or [])


def deployment(replicas: int = 1, image: str | None = None, simulate: str | None = None) -> str:
    """The example Deployment with changed replicas / image / kwok simulation label."""
    text = example_files()[DEPLOYMENT].replace("replicas: 1", f"replicas: {replicas}")
    if image is not None:
        text = text.replace(
            "image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/finance-api:1.4", f"image: {image}"
        )
    if simulate is not None:
        marker = "        app.kubernetes.io/part-of: finance-app\n    spec:"
        assert marker in text
        text = text.replace(
            marker,
            "        app.kubernetes.io/part-of: finance-app\n"
            f"        testenv.tether.dev/simulate: {simulate}\n    spec:",
        )
    return text


def sign_in(page: Page, server: TetherServer, token: str, path: str = "/") -> None:
    page.goto(server.url + path)
    expect(page.get_by_test_id("login-form")).to_be_visible(timeout=TIMEOUT)
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("session")).to_be_visible(timeout=TIMEOUT)
