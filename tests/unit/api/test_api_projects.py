"""Project-scoped tokens: a token of project P acts as if other projects' apps did not exist."""

from __future__ import annotations

import base64
import json

import pytest
from api_fakes import ADMIN, FakeAppService, FakeRegistries
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from tether.api import Auth, create_app, hash_token
from tether.api.auth import Principal, token_secret_entry, tokens_from_secret

TEAM_A = "tth_team-a-admin"
TEAM_A_READER = "tth_team-a-reader"
A_ADMIN = {"Authorization": f"Bearer {TEAM_A}"}
A_READER = {"Authorization": f"Bearer {TEAM_A_READER}"}


@pytest.fixture
def teams(service: FakeAppService) -> TestClient:
    """guestbook belongs to team-a; finance-api to team-b; paused-app names no project."""
    service.apps["guestbook"]["spec"]["project"] = "team-a"
    service.apps["finance-api"]["spec"]["project"] = "team-b"
    auth = Auth(
        {
            hash_token(TEAM_A): Principal("ann", "admin", "team-a"),
            hash_token(TEAM_A_READER): Principal("abe", "readonly", "team-a"),
            hash_token("tth_admin-secret"): Principal("alice", "admin"),
        }
    )
    app = create_app(service, FakeRegistries(), auth, CollectorRegistry(), stream_interval=0.01)
    return TestClient(app)


def test_a_project_token_lists_only_its_projects_apps(teams: TestClient) -> None:
    names = [a["name"] for a in teams.get("/api/v1/apps", headers=A_READER).json()]
    assert names == ["guestbook"]
    everyone = [a["name"] for a in teams.get("/api/v1/apps", headers=ADMIN).json()]
    assert everyone == ["finance-api", "guestbook", "paused-app"]


@pytest.mark.parametrize(
    "path", ["", "/tree", "/diff", "/history", "/explain", "/events", "/resource?kind=Pod&name=x"]
)
def test_another_projects_app_is_a_404_like_a_name_nobody_uses(
    teams: TestClient, path: str
) -> None:
    hidden = teams.get(f"/api/v1/apps/finance-api{path}", headers=A_READER)
    missing = teams.get(f"/api/v1/apps/finance-apj{path}", headers=A_READER)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"] == missing.json()["error"].replace("finance-apj", "finance-api")


@pytest.mark.parametrize(
    ("action", "body"),
    [("sync", {}), ("rollback", {"id": 0}), ("resume", None), ("refresh", None)],
)
def test_a_project_admin_cannot_act_on_another_projects_app(
    teams: TestClient, service: FakeAppService, action: str, body: dict[str, int] | None
) -> None:
    response = teams.post(f"/api/v1/apps/finance-api/{action}", json=body, headers=A_ADMIN)
    assert response.status_code == 404
    assert "finance-api" in response.json()["error"]
    assert service.actions == []
    own = teams.post(f"/api/v1/apps/guestbook/{action}", json=body, headers=A_ADMIN)
    assert own.status_code == 200, own.text
    assert [a[0] for a in service.actions] == [action]


def test_an_app_without_a_project_belongs_to_default(teams: TestClient) -> None:
    assert teams.get("/api/v1/apps/paused-app", headers=A_READER).status_code == 404


def test_streams_show_a_project_token_only_its_apps(teams: TestClient) -> None:
    with teams.stream("GET", f"/api/v1/stream/apps?token={TEAM_A_READER}") as response:
        line = next(x for x in response.iter_lines() if x.startswith("data:"))
    assert [a["name"] for a in json.loads(line[5:])] == ["guestbook"]
    other = teams.get(f"/api/v1/stream/apps/finance-api/tree?token={TEAM_A_READER}")
    assert other.status_code == 404


def test_cluster_wide_data_is_not_for_project_tokens(teams: TestClient) -> None:
    assert teams.get("/api/v1/registries", headers=A_READER).status_code == 403
    assert teams.post("/api/v1/registries/ecr-prod/check", headers=A_ADMIN).status_code == 403
    assert teams.get("/metrics", headers=A_READER).status_code == 403
    assert teams.get("/api/v1/registries", headers=ADMIN).status_code == 200


def test_the_session_names_the_project(teams: TestClient) -> None:
    session = teams.get("/api/v1/session", headers=A_READER).json()
    assert session == {"user": "abe", "role": "readonly", "project": "team-a"}


def test_project_entries_round_trip_and_old_entries_still_parse() -> None:
    key, value = token_secret_entry("ann", "admin", "tth_a", "team-a")
    old = base64.b64encode(f"readonly:{hash_token('tth_old')}".encode()).decode()
    bad = base64.b64encode(f"admin:{hash_token('tth_b')}:Team_B!".encode()).decode()
    table = tokens_from_secret({"data": {key: value, "old": old, "bad": bad}})
    assert table == {
        hash_token("tth_a"): Principal("ann", "admin", "team-a"),
        hash_token("tth_old"): Principal("old", "readonly", None),
    }


def test_an_invalid_project_name_is_refused_when_the_token_is_made() -> None:
    with pytest.raises(ValueError, match="project"):
        token_secret_entry("ann", "admin", "tth_a", "a:b")


def test_a_controller_without_projects_would_refuse_a_project_token() -> None:
    """The old parser (role, digest = partition(':')) sees a 64+ char digest and skips it."""
    _, value = token_secret_entry("ann", "admin", "tth_a", "team-a")
    _role, _, digest = base64.b64decode(value).decode().partition(":")
    assert len(digest) != 64
