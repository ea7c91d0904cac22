"""The HTTP API served by `tether controller --listen`, against the real control plane."""

from __future__ import annotations

import json
import secrets
import threading
from typing import Any

import httpx
import pytest

from fixtures.server import TetherServer
from fixtures.tether import example_files
from fixtures.waiting import wait_for
from tether.engine import application as appmodel
from tether.engine.webhook import sign


def _create_app(server: TetherServer, repo_url: str, dest: str) -> str:
    name = f"api-{secrets.token_hex(3)}"
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
    import subprocess
    import sys
    from pathlib import Path

    kubectl = str(Path(sys.executable).with_name("kubectl"))
    subprocess.run(
        [kubectl, f"--kubeconfig={server.kubeconfig}", "apply", "-f", "-"],
        input=json.dumps(app),
        text=True,
        check=True,
        capture_output=True,
    )
    return name


@pytest.fixture
def synced_app(tether_server: TetherServer, git_repo: Any, dest_namespace: str) -> str:
    git_repo.commit(example_files(), message="finance app")
    name = _create_app(tether_server, git_repo.git_url, dest_namespace)
    with tether_server.admin() as http:

        def ready() -> bool:
            r = http.get(f"/api/v1/apps/{name}")
            st = r.json().get("status") or {} if r.status_code == 200 else {}
            return (
                st.get("sync", {}).get("status") == "Synced"
                and st.get("health", {}).get("status") == "Healthy"
            )

        wait_for(ready, what="app Synced and Healthy through the API")
    return name


def test_no_token_is_refused_with_how_to_get_one(tether_server: TetherServer) -> None:
    with tether_server.client() as http:
        r = http.get("/api/v1/apps")
    assert r.status_code == 401
    assert "tether token create" in r.json()["error"]


def test_each_read_endpoint_answers_for_a_synced_app(
    tether_server: TetherServer, synced_app: str
) -> None:
    with tether_server.readonly() as http:
        apps = http.get("/api/v1/apps").json()
        items = apps if isinstance(apps, list) else apps.get("items", apps)
        assert any(a["name"] == synced_app for a in items)
        app = http.get(f"/api/v1/apps/{synced_app}").json()
        assert app["status"]["sync"]["status"] in ("Synced", "OutOfSync"), app["status"]
        assert app["status"]["history"], app["status"]

        def tree_kinds() -> bool:
            tree = http.get(f"/api/v1/apps/{synced_app}/tree").json()
            kinds = {n["kind"] for n in tree["nodes"]}
            return {"Deployment", "ReplicaSet", "Pod", "Service", "ConfigMap"} <= kinds

        wait_for(tree_kinds, timeout=20, what="the tree down to the Pods")
        history = http.get(f"/api/v1/apps/{synced_app}/history").json()
        entries = history if isinstance(history, list) else history["items"]
        assert [h["id"] for h in entries][:1] == [1], entries
        explain = http.get(f"/api/v1/apps/{synced_app}/explain").json()
        assert "text" in explain
        assert http.get(f"/api/v1/apps/{synced_app}/diff").status_code == 200
        assert http.get(f"/api/v1/apps/{synced_app}/events").status_code == 200
        session = http.get("/api/v1/session").json()
        assert session["role"] == "readonly"
        assert http.get("/api/v1/apps/no-such-app").status_code == 404
        assert http.get("/openapi.json").status_code == 404  # off unless --api-docs
        metrics = http.get("/metrics").text
        assert "tether_reconcile_duration_seconds" in metrics


def test_readonly_token_cannot_sync_and_admin_can(
    tether_server: TetherServer, synced_app: str
) -> None:
    with tether_server.readonly() as http:
        assert http.post(f"/api/v1/apps/{synced_app}/sync", json={}).status_code == 403
    with tether_server.admin() as http:
        r = http.post(f"/api/v1/apps/{synced_app}/sync", json={"prune": True})
        assert r.status_code == 200, r.text
        assert r.json()["phase"] == "Succeeded"
        bad = http.post(f"/api/v1/apps/{synced_app}/sync", json={"prune": "maybe"})
        assert bad.status_code == 422


def test_sync_is_recorded_as_an_event_naming_who_did_it(
    tether_server: TetherServer, synced_app: str
) -> None:
    with tether_server.admin() as http:
        http.post(f"/api/v1/apps/{synced_app}/sync", json={})
        events = http.get(f"/api/v1/apps/{synced_app}/events").json()
    items = events if isinstance(events, list) else events["items"]
    assert any("test-admin" in e["message"] for e in items)


def test_tree_stream_delivers_a_change_without_polling(
    tether_server: TetherServer, synced_app: str, kubectl: Any, dest_namespace: str
) -> None:
    received: list[str] = []
    stop = threading.Event()

    def listen() -> None:
        url = f"{tether_server.url}/api/v1/stream/apps/{synced_app}/tree"
        try:
            with httpx.stream(
                "GET", url, params={"token": tether_server.readonly_token}, timeout=30
            ) as resp:
                for line in resp.iter_lines():
                    if line.startswith("data:"):
                        received.append(line)
                    if stop.is_set():
                        return
        except httpx.HTTPError:
            if not stop.is_set():
                raise  # after the test the server closes the stream: not a failure

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    # A change self-heal cannot undo: a scale-up reverted within one coalescing
    # window would leave the tree as it was, and rightly send nothing.
    pod = wait_for(
        lambda: kubectl(
            "-n",
            dest_namespace,
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/name=finance-api",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ).split(),
        what="the app's Pod",
    )[0]
    wait_for(lambda: any(pod in line for line in received), what="a tree event with the Pod")
    first = len(received)
    kubectl("-n", dest_namespace, "delete", "pod", pod, "--wait=false")
    wait_for(
        lambda: any(pod not in line for line in received[first:]),
        timeout=30,
        what="a tree event without the deleted Pod",
    )
    stop.set()


def test_signed_github_push_webhook_refreshes_the_app(
    tether_server: TetherServer, synced_app: str, git_repo: Any
) -> None:
    files = example_files()
    path = "apps/finance/configmap.yaml"
    git_repo.commit(
        {path: files[path].replace("LOG_LEVEL: info", "LOG_LEVEL: debug")}, message="debug logging"
    )
    body = json.dumps(
        {"ref": "refs/heads/main", "repository": {"clone_url": git_repo.git_url}}
    ).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": sign("wrong", body),
        "Content-Type": "application/json",
    }
    with tether_server.client() as http:
        assert http.post("/api/webhook", content=body, headers=headers).status_code == 401
        headers["X-Hub-Signature-256"] = sign(tether_server.webhook_secret, body)
        r = http.post("/api/webhook", content=body, headers=headers)
        assert r.status_code == 200, r.text
        assert synced_app in r.json()["refreshed"]
    with tether_server.admin() as http:

        def applied() -> bool:
            st = http.get(f"/api/v1/apps/{synced_app}").json().get("status") or {}
            return bool(st.get("history")) and st["history"][-1]["message"] == "debug logging"

        wait_for(applied, timeout=30, what="the pushed commit deployed")
