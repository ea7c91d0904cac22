"""Attacks on the HTTP layer, each written as the attacker would send it.

Body size, authentication before parsing, credential leaks to read-only
tokens, docs exposure and webhook signatures; the real control plane versions
are in tests/integration/api/test_api_attacks_on_cluster.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from api_fakes import ADMIN, READER, READER_TOKEN, FakeAppService, FakeRegistries
from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from tether.api import Auth, create_app, hash_token
from tether.api.limits import API_BODY_LIMIT, BodyLimitMiddleware
from tether.engine import webhook
from tether.engine.redact import MASK

CREDENTIAL = "ghp_s3cr3tT0ken"
HELM_PASSWORD = "hunter2-db-password"


def leaky(service: FakeAppService) -> None:
    """The guestbook app as its author wrote it: a token in the URL, a password in Helm."""
    app = service.apps["guestbook"]
    source = app["spec"]["source"]
    source["repoURL"] = f"https://deploy:{CREDENTIAL}@git.example.com/acme/guestbook.git"
    source["helm"] = {
        "releaseName": "guestbook",
        "valueFiles": ["values-prod.yaml"],
        "parameters": [{"name": "db.password", "value": HELM_PASSWORD}],
        "values": f"db:\n  password: {HELM_PASSWORD}\n",
        "valuesObject": {"db": {"password": HELM_PASSWORD}},
    }
    app["status"]["history"][-1]["source"] = json.loads(json.dumps(source))
    app["status"]["conditions"] = [
        {
            "type": "ComparisonError",
            "reason": "GitError",
            "message": f"cannot fetch https://deploy:{CREDENTIAL}@git.example.com/acme/x.git",
        }
    ]


def _stream_first(client: TestClient, path: str) -> str:
    with client.stream("GET", path) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data:"):
                return line
    raise AssertionError("no event")


# -- request size and authentication before parsing ------------------------------


def test_an_oversized_body_is_refused_413_before_it_is_read(client: TestClient) -> None:
    body = b"x" * (API_BODY_LIMIT + 1)
    response = client.post("/api/v1/apps/guestbook/sync", content=body, headers=ADMIN)
    assert response.status_code == 413
    assert "too large" in response.json()["error"]


async def test_a_declared_length_over_the_limit_is_answered_without_reading_a_byte() -> None:
    reached: list[str] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append("app")

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/apps/x/sync",
        "headers": [(b"content-length", str(400 * 1024 * 1024).encode())],
    }
    await BodyLimitMiddleware(app, 1024)(scope, receive, send)
    assert not reached
    assert sent[0]["status"] == 413


async def test_a_chunked_body_is_cut_at_the_limit() -> None:
    chunks = iter([b"a" * 600, b"b" * 600, b"c" * 600])
    pulled: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = next(chunks)
        pulled.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def app(scope: Any, recv: Any, send: Any) -> None:
        while True:  # an endpoint that reads everything it is given
            await recv()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/webhook", "headers": []}
    await BodyLimitMiddleware(app, 1000)(scope, receive, send)
    assert pulled == [600, 600]  # the third chunk is never read
    assert sent[0]["status"] == 413


def test_the_webhook_has_its_own_limit(client: TestClient) -> None:
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    response = client.post("/api/webhook", content=big, headers={"X-GitHub-Event": "push"})
    assert response.status_code == 413


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
def test_a_broken_body_without_a_valid_token_is_401_not_422(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/apps/guestbook/sync",
        content=b'{"prune": tru',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 401
    assert "tether token create" in response.json()["error"]


def test_a_broken_body_from_a_readonly_token_is_403_not_422(client: TestClient) -> None:
    response = client.post("/api/v1/apps/guestbook/rollback", content=b"[[[", headers={**READER})
    assert response.status_code == 403
    assert "admin" in response.json()["error"]


# -- credentials in the Application --------------------------------------------------


def test_readonly_never_sees_url_credentials_or_helm_values(
    client: TestClient, service: FakeAppService
) -> None:
    leaky(service)
    seen = [
        client.get("/api/v1/apps", headers=READER).text,
        client.get("/api/v1/apps/guestbook", headers=READER).text,
        client.get("/api/v1/apps/guestbook/history", headers=READER).text,
        _stream_first(client, f"/api/v1/stream/apps?token={READER_TOKEN}"),
        _stream_first(client, f"/api/v1/stream/apps/guestbook/tree?token={READER_TOKEN}"),
    ]
    for text in seen:
        assert CREDENTIAL not in text
        assert HELM_PASSWORD not in text
    app = client.get("/api/v1/apps/guestbook", headers=READER).json()
    source = app["spec"]["source"]
    assert source["repoURL"] == "https://git.example.com/acme/guestbook.git"
    assert source["helm"]["parameters"] == [{"name": "db.password", "value": MASK}]
    assert source["helm"]["values"] == MASK
    assert source["helm"]["valueFiles"] == ["values-prod.yaml"]


def test_admin_sees_helm_values_but_no_url_credentials(
    client: TestClient, service: FakeAppService
) -> None:
    leaky(service)
    text = client.get("/api/v1/apps/guestbook", headers=ADMIN).text
    assert HELM_PASSWORD in text
    assert CREDENTIAL not in text


def test_search_cannot_probe_a_url_credential(client: TestClient, service: FakeAppService) -> None:
    leaky(service)
    hits = client.get("/api/v1/apps", params={"search": "ghp_s3"}, headers=READER).json()
    assert hits == []


def test_errors_do_not_quote_url_credentials(client: TestClient, service: FakeAppService) -> None:
    from tether.controller.service import ActionRefused

    async def refuse(*_: Any, **__: Any) -> dict[str, Any]:
        raise ActionRefused(f"cannot read https://deploy:{CREDENTIAL}@git.example.com/x.git")

    service.diff = refuse  # type: ignore[method-assign]
    response = client.get("/api/v1/apps/guestbook/diff", headers=READER)
    assert response.status_code == 409
    assert CREDENTIAL not in response.text


def test_the_app_summary_carries_conditions_such_as_a_sync_window(
    client: TestClient, service: FakeAppService
) -> None:
    service.apps["guestbook"]["status"]["conditions"] = [
        {"type": "SyncWindow", "reason": "Denied", "message": "deny window 22:00-06:00"}
    ]
    apps = client.get("/api/v1/apps", headers=READER).json()
    summary = next(a for a in apps if a["name"] == "guestbook")
    assert summary["conditions"] == [
        {"type": "SyncWindow", "reason": "Denied", "message": "deny window 22:00-06:00"}
    ]


# -- API docs -------------------------------------------------------------------


def test_api_docs_are_not_served_by_default(client: TestClient) -> None:
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert client.get(path, headers=ADMIN).status_code == 404, path
        assert "paths" not in client.get(path).text


def test_with_api_docs_the_schema_needs_a_token(service: FakeAppService) -> None:
    auth = Auth({hash_token(READER_TOKEN): ("bob", "readonly")})
    app = create_app(service, FakeRegistries(), auth, CollectorRegistry(), api_docs=True)
    with TestClient(app) as http:
        assert http.get("/openapi.json").status_code == 401
        spec = http.get("/openapi.json", headers=READER).json()
        assert "/api/v1/apps/{name}/sync" in spec["paths"]
        assert http.get("/docs").status_code != 200


# -- webhook signatures ---------------------------------------------------------------


@pytest.fixture
def webhook_client(client: TestClient) -> Iterator[TestClient]:
    app: Any = client.app

    @app.post("/api/webhook")
    async def hook(request: Request) -> JSONResponse:
        try:
            webhook.parse(request.headers, await request.body(), "s3cret")
        except webhook.WebhookError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return JSONResponse({"ok": True})

    yield client


@pytest.mark.parametrize(
    "headers",
    [
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=\u00e9\u00e9"},
        {"X-Gitea-Event": "push", "X-Gitea-Signature": "\u00ff" * 64},
        {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "\u00e9"},
        {"X-Event-Key": "repo:push", "X-Hub-Signature": "sha256=\u00e0"},
    ],
)
def test_a_non_ascii_signature_is_401_not_500(
    webhook_client: TestClient, headers: dict[str, str]
) -> None:
    raw = [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]
    response = webhook_client.post("/api/webhook", content=b"{}", headers=dict(raw))  # type: ignore[arg-type]
    assert response.status_code == 401
    assert "signature does not match" in response.json()["error"]


def test_a_chunked_webhook_body_over_the_limit_is_413_not_500(
    webhook_client: TestClient,
) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(4):
            yield b" " * (512 * 1024)

    response = webhook_client.post(
        "/api/webhook", content=body(), headers={"X-GitHub-Event": "push"}
    )
    assert response.status_code == 413
    assert "too large" in response.json()["error"]
