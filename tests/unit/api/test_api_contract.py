"""Contract of the HTTP layer: routing, auth, error shapes, masking, streams.

Runs the real FastAPI app over an in-memory AppService; what the control
plane does behind these calls is tested against the real control plane.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from api_fakes import ADMIN, ADMIN_TOKEN, READER, READER_TOKEN, SYNCED_AT, FakeAppService
from fastapi.testclient import TestClient

from tether.api.auth import (
    Auth,
    Principal,
    QueryTokenMiddleware,
    hash_token,
    new_token,
    token_secret_entry,
    tokens_from_secret,
)
from tether.api.mask import MASK
from tether.api.streams import coalesced
from tether.controller.service import SyncRequest


def test_every_api_route_needs_a_token(client: TestClient) -> None:
    for method, path in [
        ("GET", "/api/v1/apps"),
        ("GET", "/api/v1/apps/guestbook"),
        ("GET", "/api/v1/apps/guestbook/tree"),
        ("GET", "/api/v1/session"),
        ("GET", "/api/v1/registries"),
        ("GET", "/api/v1/stream/apps"),
        ("POST", "/api/v1/apps/guestbook/sync"),
        ("GET", "/metrics"),
    ]:
        response = client.request(method, path, json={} if method == "POST" else None)
        assert response.status_code == 401, path
        assert "tether token create" in response.json()["error"]
        assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_token_is_rejected(client: TestClient) -> None:
    response = client.get("/api/v1/apps", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["error"].startswith("invalid, expired or revoked token")


def test_session_names_user_and_role(client: TestClient) -> None:
    assert client.get("/api/v1/session", headers=READER).json() == {
        "user": "bob",
        "role": "readonly",
        "project": None,
    }
    assert client.get("/api/v1/session", headers=ADMIN).json()["role"] == "admin"


def test_readonly_cannot_act(client: TestClient, service: FakeAppService) -> None:
    for path, body in [
        ("sync", {}),
        ("rollback", {"id": 0}),
        ("resume", None),
        ("refresh", None),
    ]:
        response = client.post(f"/api/v1/apps/guestbook/{path}", json=body, headers=READER)
        assert response.status_code == 403, path
        assert "--role admin" in response.json()["error"]
    assert service.actions == []


def test_admin_syncs_with_options_and_is_recorded(
    client: TestClient, service: FakeAppService
) -> None:
    body = {"revision": "v1.4.2", "prune": True, "dryRun": True, "resources": ["apps/Deployment/x"]}
    response = client.post("/api/v1/apps/guestbook/sync", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["dryRun"] is True
    assert service.actions == [
        ("sync", "alice", SyncRequest("v1.4.2", True, True, ("apps/Deployment/x",)))
    ]


def test_admin_rollback_resume_refresh(client: TestClient, service: FakeAppService) -> None:
    assert client.post("/api/v1/apps/guestbook/rollback", json={"id": 0}, headers=ADMIN).is_success
    assert client.post("/api/v1/apps/paused-app/resume", headers=ADMIN).is_success
    assert client.post("/api/v1/apps/guestbook/refresh", headers=ADMIN).is_success
    assert [a[0] for a in service.actions] == ["rollback", "resume", "refresh"]


def test_unknown_app_is_404_with_message(client: TestClient) -> None:
    for path in ["", "/tree", "/diff", "/history", "/explain", "/events"]:
        response = client.get(f"/api/v1/apps/nope{path}", headers=READER)
        assert response.status_code == 404, path
        assert "no application named 'nope'" in response.json()["error"]
    response = client.post("/api/v1/apps/nope/sync", json={}, headers=ADMIN)
    assert response.status_code == 404
    assert client.get("/api/v1/stream/apps/nope/tree", headers=READER).status_code == 404


def test_bad_options_are_422_naming_the_field(client: TestClient) -> None:
    cases = [
        ({"prune": "sometimes"}, "prune"),
        ({"dryrun": True}, "dryrun"),
        ({"resources": ["not a ref"]}, "resources"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/apps/guestbook/sync", json=body, headers=ADMIN)
        assert response.status_code == 422, body
        assert field in response.json()["fields"]
        assert field in response.json()["error"]
    response = client.post(
        "/api/v1/apps/guestbook/sync", json={"resources": ["x y"]}, headers=ADMIN
    )
    assert "'x y' is not Kind/name or group/Kind/name" in response.json()["error"]
    response = client.post("/api/v1/apps/guestbook/rollback", json={}, headers=ADMIN)
    assert response.status_code == 422
    assert "id: required" in response.json()["error"]
    response = client.get("/api/v1/apps/guestbook/resource?kind=Pod", headers=READER)
    assert response.status_code == 422
    assert "query.name" in response.json()["error"]


def test_refused_action_is_409_with_the_reason(client: TestClient) -> None:
    response = client.post(
        "/api/v1/apps/guestbook/sync", json={"revision": "refuse"}, headers=ADMIN
    )
    assert response.status_code == 409
    assert response.json() == {"error": "a sync is already running; wait for it or cancel it"}


def test_list_summaries_and_filters(client: TestClient) -> None:
    apps = client.get("/api/v1/apps", headers=READER).json()
    assert [a["name"] for a in apps] == ["finance-api", "guestbook", "paused-app"]
    guestbook = apps[1]
    assert guestbook["revision"] == "3f9c2e1"
    assert guestbook["revisionMessage"].startswith("Bump image")
    assert guestbook["autoSync"] is True
    assert guestbook["lastSyncedAt"] == SYNCED_AT
    assert "status" not in guestbook
    names = lambda q: [a["name"] for a in client.get(f"/api/v1/apps?{q}", headers=READER).json()]  # noqa: E731
    assert names("health=Degraded") == ["finance-api"]
    assert names("sync=outofsync") == ["paused-app"]
    assert names("search=GUEST") == ["guestbook"]
    assert names("health=Healthy,Degraded&sync=Synced") == ["finance-api", "guestbook"]


def test_secrets_are_masked_everywhere(client: TestClient) -> None:
    response = client.get(
        "/api/v1/apps/guestbook/resource?kind=Secret&name=db&namespace=guestbook", headers=READER
    )
    manifest = response.json()["manifest"]
    assert manifest["data"] == {"password": MASK}
    assert manifest["stringData"] == {"token": MASK}
    assert "aHVudGVyMg" not in response.text and "plain-secret" not in response.text
    app = client.get("/api/v1/apps/guestbook", headers=READER).json()
    assert "kubectl.kubernetes.io/last-applied-configuration" not in app["metadata"]["annotations"]
    pod = client.get("/api/v1/apps/guestbook/resource?kind=Pod&name=p", headers=READER).json()
    assert pod["manifest"]["metadata"]["annotations"] == {}


def test_registries(client: TestClient) -> None:
    registries = client.get("/api/v1/registries", headers=READER).json()
    assert registries[0]["name"] == "ecr-prod"
    assert client.post("/api/v1/registries/ecr-prod/check", headers=ADMIN).json()["ok"] is True
    missing = client.post("/api/v1/registries/nope/check", headers=ADMIN)
    assert missing.status_code == 404
    assert "nope" in missing.json()["error"]


def read_event(client: TestClient, path: str) -> tuple[str, object]:
    with client.stream("GET", path) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            if line.startswith("data:"):
                return name, json.loads(line.split(":", 1)[1])
    raise AssertionError("no event")


def test_app_stream_sends_the_list_at_connect_with_query_token(client: TestClient) -> None:
    name, data = read_event(client, f"/api/v1/stream/apps?token={READER_TOKEN}")
    assert name == "apps"
    assert isinstance(data, list)
    assert {a["name"] for a in data} == {"finance-api", "guestbook", "paused-app"}


def test_tree_stream_sends_app_and_tree(client: TestClient) -> None:
    name, data = read_event(client, f"/api/v1/stream/apps/guestbook/tree?token={ADMIN_TOKEN}")
    assert name == "tree"
    assert isinstance(data, dict)
    assert data["app"]["name"] == "guestbook"
    assert any(n["kind"] == "Pod" for n in data["tree"]["nodes"])


def test_metrics_and_probes(client: TestClient) -> None:
    metrics = client.get("/metrics", headers=READER)
    assert metrics.status_code == 200
    assert "tether_syncs_total 1.0" in metrics.text
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_unknown_api_path_is_json_404_and_ui_paths_get_html(client: TestClient) -> None:
    response = client.get("/api/v1/nothing", headers=READER)
    assert response.status_code == 404
    assert "error" in response.json()
    page = client.get("/apps/guestbook")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert client.get("/").headers["content-type"].startswith("text/html")
    assert client.post("/apps/guestbook").json()["error"].startswith("no such endpoint")


def test_routes_added_after_create_app_win_over_the_ui(client: TestClient) -> None:
    app: Any = client.app

    @app.get("/api/webhook/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    assert client.get("/api/webhook/ping").json() == {"pong": "yes"}
    assert client.get("/assets/gone-1234.js").status_code == 404


def test_token_helpers_round_trip_through_a_secret() -> None:
    token = new_token()
    assert token.startswith("tth_") and len(token) > 40
    assert hash_token(token) == hash_token(f" {token}\n")
    key, value = token_secret_entry("carol", "admin", token)
    secret = {"data": {key: value, "broken": base64.b64encode(b"root:xyz").decode()}}
    assert tokens_from_secret(secret) == {hash_token(token): Principal("carol", "admin")}


async def test_auth_reloads_from_the_loader_when_a_new_token_appears() -> None:
    table: dict[str, Principal] = {}

    async def loader() -> dict[str, Principal]:
        return dict(table)

    auth = Auth(loader=loader, max_age=0)
    assert await auth.authenticate("t1") is None
    table[hash_token("t1")] = Principal("dave", "readonly")
    principal = await auth.authenticate("t1")
    assert principal is not None and principal.user == "dave" and not principal.is_admin


def test_app_stream_sends_changes(client: TestClient, service: FakeAppService) -> None:
    def change() -> None:
        service.apps["guestbook"]["status"]["health"]["status"] = "Degraded"
        service.changed("guestbook")

    with client.stream("GET", f"/api/v1/stream/apps?token={READER_TOKEN}") as response:
        datas = (json.loads(x[5:]) for x in response.iter_lines() if x.startswith("data:"))
        first = next(datas)
        assert {a["name"]: a["health"] for a in first}["guestbook"] == "Healthy"
        assert service.loop is not None
        service.loop.call_soon_threadsafe(change)
        second = next(datas)
        assert {a["name"]: a["health"] for a in second}["guestbook"] == "Degraded"


async def test_changes_are_coalesced() -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    batches = coalesced(queue, 0.05)
    queue.put_nowait("a")
    assert await anext(batches) == {"a"}
    for name in ["b", "c", "b"]:
        queue.put_nowait(name)
    assert await anext(batches) == {"b", "c"}


async def test_query_token_moves_to_the_header_and_out_of_the_logged_path() -> None:
    seen: dict[str, Any] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    scope = {
        "type": "http",
        "path": "/api/v1/stream/apps",
        "query_string": b"token=tth_x&a=1",
        "headers": [(b"host", b"t")],
    }
    await QueryTokenMiddleware(inner)(scope, None, None)  # type: ignore[arg-type]
    assert scope["query_string"] == b"a=1"  # the very scope uvicorn logs from
    assert (b"authorization", b"Bearer tth_x") in seen["headers"]
