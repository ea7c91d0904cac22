"""Revocation takes effect at once, also for streams that are already open."""

from __future__ import annotations

import json
import threading
import time

from api_fakes import READER, READER_TOKEN, FakeAppService, FakeRegistries
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from tether.api import Auth, create_app, hash_token
from tether.api.auth import Principal

BOB = Principal("bob", "readonly")


def _client(service: FakeAppService, auth: Auth) -> TestClient:
    app = create_app(
        service,
        FakeRegistries(),
        auth,
        CollectorRegistry(),
        stream_interval=0.01,
        stream_reauth=0.1,
    )
    return TestClient(app)


def test_a_revoked_token_is_refused_on_the_next_request(service: FakeAppService) -> None:
    auth = Auth()
    auth.replace({hash_token(READER_TOKEN): BOB})
    http = _client(service, auth)
    assert http.get("/api/v1/apps", headers=READER).status_code == 200
    auth.replace({})  # the watch on the token Secret reports the revocation
    assert http.get("/api/v1/apps", headers=READER).status_code == 401


async def test_without_a_watch_the_secret_is_re_read_within_max_age() -> None:
    table = {hash_token(READER_TOKEN): BOB}
    loads: list[float] = []

    async def loader() -> dict[str, Principal]:
        loads.append(time.monotonic())
        return dict(table)

    auth = Auth(loader=loader, max_age=0.05)
    assert await auth.authenticate(READER_TOKEN) == BOB
    table.clear()
    time.sleep(0.06)
    assert await auth.authenticate(READER_TOKEN) is None
    assert len(loads) == 2


async def test_while_followed_no_request_reads_the_secret() -> None:
    loads: list[int] = []

    async def loader() -> dict[str, Principal]:
        loads.append(1)
        return {}

    auth = Auth(loader=loader, max_age=0)
    auth.replace({hash_token(READER_TOKEN): BOB})
    for _ in range(5):
        assert await auth.authenticate(READER_TOKEN) == BOB
        assert await auth.authenticate("tth_guess") is None
    assert loads == []
    auth.unfollowed()
    assert await auth.authenticate(READER_TOKEN) is None  # re-read: the Secret has none
    assert loads == [1]


def test_an_open_stream_closes_when_its_token_is_revoked(service: FakeAppService) -> None:
    auth = Auth()
    auth.replace({hash_token(READER_TOKEN): BOB})
    http = _client(service, auth)
    events: list[str] = []
    revoked_at: list[float] = []

    def revoke_soon() -> None:
        time.sleep(0.3)
        revoked_at.append(time.monotonic())
        auth.replace({})

    with http.stream("GET", f"/api/v1/stream/apps?token={READER_TOKEN}") as response:
        threading.Thread(target=revoke_soon, daemon=True).start()
        for line in response.iter_lines():  # ends when the server closes the stream
            if line.startswith("event:"):
                events.append(line.split(":", 1)[1].strip())
            if line.startswith("data:") and events[-1] == "unauthorized":
                assert "revoked" in json.loads(line[5:])["error"]
    closed_after = time.monotonic() - revoked_at[0]
    assert events == ["apps", "unauthorized"]
    assert closed_after < 2


def test_a_stream_of_an_app_closes_when_the_token_is_revoked(service: FakeAppService) -> None:
    auth = Auth()
    auth.replace({hash_token(READER_TOKEN): BOB})
    http = _client(service, auth)
    events: list[str] = []
    threading.Timer(0.3, lambda: auth.replace({})).start()
    with http.stream("GET", f"/api/v1/stream/apps/guestbook/tree?token={READER_TOKEN}") as r:
        events = [x.split(":", 1)[1].strip() for x in r.iter_lines() if x.startswith("event:")]
    assert events == ["tree", "unauthorized"]
