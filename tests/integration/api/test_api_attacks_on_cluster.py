"""Attacks on `tether controller --listen`, against the real control plane.

Each test is the attack as it was reproduced against the old server (a
400 MiB body, a broken body without a token, credentials read with a
read-only token, another project's app, a revoked token, a non-ASCII
signature) and checks that nothing of it gets through.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from api_attack_helpers import (
    apply_app,
    create_token,
    get_app,
    patch_status,
    server_process,
    tether,
)

from fixtures.server import TetherServer
from fixtures.tether import example_files
from fixtures.waiting import wait_for

MIB = 1024 * 1024
URL_SECRET = "ghp_UrlT0kenN0tForReaders"
HELM_SECRET = "helm-db-password-n0t-for-readers"


def _raw_request(server: TetherServer, head: str, chunks: int, chunk: bytes) -> bytes:
    """Sends ``head`` then up to ``chunks`` chunks; the server's answer (it may cut us off)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for _ in range(chunks):
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed: what we want
        answer = b""
        try:
            while not answer.endswith(b"}") and len(answer) < 65536:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except OSError:
            pass
        return answer


def test_a_400_mib_unauthenticated_post_is_refused_before_it_is_read(
    tether_server: TetherServer,
) -> None:
    proc = server_process(tether_server)
    before = proc.memory_info().rss
    head = (
        "POST /api/v1/apps/anything/sync HTTP/1.1\r\nHost: tether\r\n"
        f"Content-Type: application/json\r\nContent-Length: {400 * MIB}\r\n\r\n"
    )
    started = time.monotonic()
    answer = _raw_request(tether_server, head, 400, b"x" * MIB)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"too large" in answer
    assert time.monotonic() - started < 20
    grown = (proc.memory_info().rss - before) / MIB
    assert grown < 40, f"the server grew by {grown:.0f} MiB"


def test_a_chunked_webhook_body_is_cut_at_its_limit(tether_server: TetherServer) -> None:
    proc = server_process(tether_server)
    before = proc.memory_info().rss
    head = (
        "POST /api/webhook HTTP/1.1\r\nHost: tether\r\nX-GitHub-Event: push\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = f"{MIB:x}\r\n".encode() + b"x" * MIB + b"\r\n"
    answer = _raw_request(tether_server, head, 400, chunk)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    grown = (proc.memory_info().rss - before) / MIB
    assert grown < 40, f"the server grew by {grown:.0f} MiB"


def test_a_broken_body_is_refused_by_authentication_before_parsing(
    tether_server: TetherServer,
) -> None:
    broken = {"content": b'{"prune": tr', "headers": {"Content-Type": "application/json"}}
    with tether_server.client() as http:
        r = http.post("/api/v1/apps/anything/sync", **broken)  # type: ignore[arg-type]
        assert r.status_code == 401, r.text
        assert "tether token create" in r.json()["error"]
    with tether_server.client("tth_not-a-token") as http:
        assert http.post("/api/v1/apps/anything/sync", **broken).status_code == 401  # type: ignore[arg-type]
    with tether_server.readonly() as http:
        assert http.post("/api/v1/apps/anything/sync", **broken).status_code == 403  # type: ignore[arg-type]


def test_api_docs_are_off(tether_server: TetherServer) -> None:
    with tether_server.admin() as http:
        for path in ("/openapi.json", "/docs", "/redoc"):
            r = http.get(path)
            assert r.status_code == 404, path
            assert "openapi" not in r.text.lower()


@pytest.mark.parametrize(
    "headers",
    [
        [(b"X-GitHub-Event", b"push"), (b"X-Hub-Signature-256", "sha256=\u00e9".encode())],
        [(b"X-Gitlab-Event", b"Push Hook"), (b"X-Gitlab-Token", b"\xff\xfe")],
    ],
)
def test_a_non_ascii_webhook_signature_is_401(
    tether_server: TetherServer, headers: list[tuple[bytes, bytes]]
) -> None:
    with tether_server.client() as http:
        r = http.post("/api/webhook", content=b"{}", headers=headers)
    assert r.status_code == 401, r.text
    assert "signature does not match" in r.json()["error"]


# -- credentials written into an Application -------------------------------------------


def _first_event(server: TetherServer, path: str, token: str) -> str:
    with httpx.stream(
        "GET", f"{server.url}/api/v1/stream{path}", params={"token": token}, timeout=30
    ) as resp:
        assert resp.status_code == 200, resp.read()
        for line in resp.iter_lines():
            if line.startswith("data:"):
                return line
    raise AssertionError("the stream sent nothing")


@pytest.fixture
def leaky_apps(tether_server: TetherServer, git_repo: Any, dest_namespace: str) -> list[str]:
    """A synced Helm app with a password in its parameters, and an app with a token in its URL."""
    git_repo.commit(example_files("helm"), message="finance chart")
    helm_app = apply_app(
        tether_server,
        {
            "source": {
                "repoURL": git_repo.git_url,
                "path": "apps/finance/finance-app",
                "targetRevision": "main",
                "helm": {
                    "parameters": [{"name": "dbPassword", "value": HELM_SECRET}],
                    "values": f"dbPassword: {HELM_SECRET}\n",
                },
            },
            "destination": {"namespace": dest_namespace},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        },
    )
    url_app = apply_app(
        tether_server,
        {
            "source": {
                "repoURL": f"https://deploy:{URL_SECRET}@127.0.0.1:9/finance.git",
                "path": ".",
            },
            "destination": {"namespace": dest_namespace},
        },
    )

    def settled() -> bool:
        helm = get_app(tether_server, helm_app).get("status") or {}
        url = get_app(tether_server, url_app).get("status") or {}
        return bool(helm.get("conditions") or helm.get("history")) and bool(url.get("conditions"))

    wait_for(settled, timeout=90, what="both apps reconciled")
    app = get_app(tether_server, helm_app)
    if not (app.get("status") or {}).get("history"):
        # what a sync records (the source it deployed, Helm values included), written as
        # the controller writes it, so the test does not depend on the sync being allowed
        entry = {
            "id": 0,
            "revision": "0" * 40,
            "deployedAt": "2026-01-01T00:00:00Z",
            "initiatedBy": "auto-sync",
            "message": "chart",
            "source": app["spec"]["source"],
        }
        patch_status(tether_server, helm_app, {"status": {"history": [entry]}})  # fmt: skip
    with tether_server.admin() as http:
        wait_for(
            lambda: http.get(f"/api/v1/apps/{helm_app}/history").json(),
            what="the history entry visible through the API",
        )
    return [helm_app, url_app]


def test_readonly_tokens_never_see_credentials_written_in_an_app(
    tether_server: TetherServer, leaky_apps: list[str]
) -> None:
    helm_app, url_app = leaky_apps
    token = tether_server.readonly_token
    with tether_server.readonly() as http:
        seen = [
            http.get("/api/v1/apps").text,
            http.get(f"/api/v1/apps?search={URL_SECRET[:6]}").text,
        ]
        for name in leaky_apps:
            for tail in ("", "/history", "/events", "/explain"):
                r = http.get(f"/api/v1/apps/{name}{tail}")
                assert r.status_code == 200, (name, tail, r.text)
                seen.append(r.text)
            seen.append(_first_event(tether_server, f"/apps/{name}/tree", token))
        seen.append(_first_event(tether_server, "/apps", token))
        helm = http.get(f"/api/v1/apps/{helm_app}/history").json()[-1]["source"]["helm"]
        url = http.get(f"/api/v1/apps/{url_app}").json()["spec"]["source"]["repoURL"]
    for text in seen:
        assert URL_SECRET not in text
        assert HELM_SECRET not in text
    assert [(p["name"], p["value"]) for p in helm["parameters"]] == [("dbPassword", "++++++++")]
    assert url == "https://127.0.0.1:9/finance.git"
    with tether_server.admin() as http:
        admin_view = http.get(f"/api/v1/apps/{helm_app}").text
        assert HELM_SECRET in admin_view  # admins may read what they wrote
        assert URL_SECRET not in http.get(f"/api/v1/apps/{url_app}").text


# -- project tokens --------------------------------------------------------------------


def test_a_project_token_cannot_see_or_act_on_another_projects_apps(
    tether_server: TetherServer, dest_namespace: str
) -> None:
    spec: dict[str, Any] = {
        "source": {"repoURL": "https://127.0.0.1:9/none.git", "path": "."},
        "destination": {"namespace": dest_namespace},
    }
    ours = apply_app(tether_server, {**spec, "project": "team-a"})
    theirs = apply_app(tether_server, {**spec, "project": "team-b"})
    team_a = create_token(tether_server, "team-a-ci", "admin", project="team-a")
    with tether_server.admin() as http:
        wait_for(
            lambda: {ours, theirs} <= {a["name"] for a in http.get("/api/v1/apps").json()},
            what="both apps in the controller's cache",
        )
    with tether_server.client(team_a) as http:
        names = {a["name"] for a in http.get("/api/v1/apps").json()}
        assert ours in names and theirs not in names
        assert all(a["project"] == "team-a" for a in http.get("/api/v1/apps").json())
        hidden = http.get(f"/api/v1/apps/{theirs}")
        missing = http.get(f"/api/v1/apps/{theirs}x")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["error"] == missing.json()["error"].replace(f"{theirs}x", theirs)
        for action, body in (("sync", {}), ("rollback", {"id": 0}), ("refresh", None)):
            r = http.post(f"/api/v1/apps/{theirs}/{action}", json=body)
            assert r.status_code == 404, (action, r.text)
        r = http.get(f"/api/v1/stream/apps/{theirs}/tree")
        assert r.status_code == 404
        assert http.get("/api/v1/registries").status_code == 403
        assert http.get("/metrics").status_code == 403
        assert http.get(f"/api/v1/apps/{ours}").status_code == 200
        assert http.get("/api/v1/session").json()["project"] == "team-a"
    untouched = get_app(tether_server, theirs)
    assert "operation" not in untouched
    assert "tether.dev/refresh" not in (untouched["metadata"].get("annotations") or {})


# -- revocation ------------------------------------------------------------------------


def test_a_revoked_token_stops_working_at_once_and_its_stream_closes(
    tether_server: TetherServer,
) -> None:
    token = create_token(tether_server, "revoke-me", "readonly")
    with tether_server.client(token) as http:
        wait_for(lambda: http.get("/api/v1/session").status_code == 200, timeout=5,
                 what="the new token accepted")  # fmt: skip
    events: list[str] = []
    opened = threading.Event()

    def listen() -> None:
        with httpx.stream(
            "GET", f"{tether_server.url}/api/v1/stream/apps", params={"token": token}, timeout=60
        ) as resp:
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    events.append(line.split(":", 1)[1].strip())
                    opened.set()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert opened.wait(15)
    tether(tether_server, "token", "revoke", "revoke-me")
    revoked = time.monotonic()
    with tether_server.client(token) as http:
        wait_for(lambda: http.get("/api/v1/session").status_code == 401, timeout=2,
                 what="the revoked token refused")  # fmt: skip
    refused_after = time.monotonic() - revoked
    thread.join(10)
    assert not thread.is_alive(), "the stream stayed open after the token was revoked"
    assert events[-1] == "unauthorized"
    assert refused_after < 1.0, refused_after
    log = tether_server.log.read_text()
    assert token not in log


def test_the_controller_log_and_events_do_not_carry_url_credentials(
    tether_server: TetherServer, leaky_apps: list[str]
) -> None:
    with tether_server.admin() as http:
        events = json.dumps([http.get(f"/api/v1/apps/{n}/events").json() for n in leaky_apps])
    assert URL_SECRET not in events
    assert URL_SECRET not in tether_server.log.read_text()
