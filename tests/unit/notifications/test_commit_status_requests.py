"""Commit-status services and requests on plain data (GitHub, Gitea and GitLab shapes)."""

from __future__ import annotations

import json

import pytest

from tether.engine import commit_status as cs
from tether.engine import forge
from tether.engine import notifications as n

SHA = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "ghp_secret-token-value"


def app(repo: str = "https://github.com/team/deploy.git", synced: str = SHA) -> dict[str, object]:
    return {
        "metadata": {"name": "web"},
        "spec": {"source": {"repoURL": repo, "path": "apps/web"}},
        "status": {"sync": {"revision": synced}},
    }


def notice(trigger: str, revision: str = SHA, message: str = "done", **details: str) -> n.Notice:
    return n.Notice(trigger, "web", "tether", message, "k", revision, details)


def service(kind: str, body: str, secret: dict[str, str] | None = None) -> cs.StatusConfig:
    services, problems = cs.parse_services({f"service.{kind}": body}, secret or {"t": TOKEN})
    assert problems == []
    return services[kind.split(".")[-1] if "." in kind else kind]


def test_github_status_is_posted_to_the_synced_commit_with_the_app_context() -> None:
    github = service("github", "token: $t\n")
    req = cs.request(notice(n.SYNC_SUCCEEDED), github, app())
    assert req is not None
    assert req.url == f"https://api.github.com/repos/team/deploy/statuses/{SHA}"
    assert json.loads(req.body) == {
        "state": "success",
        "context": "tether/web",
        "description": "Synced",
    }
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(req) and TOKEN not in repr(github)


def test_gitea_takes_the_same_shape_under_api_v1_with_a_target_url() -> None:
    gitea = service(
        "gitea.forge",
        "apiURL: https://git.example.com/\ntoken: $t\ncontext: deploy/{app}\n"
        "targetURL: https://tether.example.com/applications/{namespace}/{app}\n",
    )
    assert gitea.name == "forge"
    req = cs.request(
        notice(n.SYNC_FAILED, message="1 of 3 objects failed\nmore", phase="Failed"),
        gitea,
        app("https://git.example.com/team/deploy.git"),
    )
    assert req is not None
    assert req.url == f"https://git.example.com/api/v1/repos/team/deploy/statuses/{SHA}"
    assert json.loads(req.body) == {
        "state": "failure",
        "context": "deploy/web",
        "description": "Sync failed: 1 of 3 objects failed",
        "target_url": "https://tether.example.com/applications/tether/web",
    }
    assert req.headers["Authorization"] == f"token {TOKEN}"


def test_gitlab_uses_its_project_path_states_and_private_token_header() -> None:
    gitlab = service("gitlab", "apiURL: https://gitlab.example.com/code\ntoken: $t\n")
    repo = "https://gitlab.example.com/code/group/sub/deploy.git"
    failed = cs.request(notice(n.SYNC_FAILED, phase="Error"), gitlab, app(repo))
    assert failed is not None
    assert failed.url == (
        f"https://gitlab.example.com/code/api/v4/projects/group%2Fsub%2Fdeploy/statuses/{SHA}"
    )
    assert json.loads(failed.body)["state"] == "failed"
    assert json.loads(failed.body)["name"] == "tether/web"
    assert failed.headers == {"PRIVATE-TOKEN": TOKEN}
    ok = cs.request(notice(n.HEALTH_RECOVERED, revision=""), gitlab, app(repo))
    assert ok is not None and json.loads(ok.body)["state"] == "success"


def test_health_notices_mark_the_revision_the_app_is_synced_to() -> None:
    github = service("github", "token: $t\n")
    other = "f" * 40
    req = cs.request(
        notice(n.HEALTH_DEGRADED, revision="", message="rollout stuck"), github, app(synced=other)
    )
    assert req is not None
    assert req.sha == other
    assert json.loads(req.body)["state"] == "failure"
    assert json.loads(req.body)["description"] == "Degraded: rollout stuck"


def test_triggers_without_a_commit_meaning_set_no_status() -> None:
    github = service("github", "token: $t\n")
    for trigger in (n.IMAGE_UPDATED, n.DRIFT_REVERTED, n.CREDENTIAL_EXPIRING):
        assert cs.request(notice(trigger), github, app()) is None


def test_argo_cd_shape_is_read_and_its_app_keys_are_refused_clearly() -> None:
    ghe = service("github", "enterpriseBaseURL: https://ghe.example.com/api/v3\ntoken: $t\n")
    assert ghe.api_url == "https://ghe.example.com/api/v3"
    _, problems = cs.parse_services(
        {"service.github": "appID: 1\ninstallationID: 2\nprivateKey: $key\n"}, {"key": "pem"}
    )
    assert problems and "GitHub App" in problems[0] and "pem" not in problems[0]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("apiURL: https://git.example.com\n", "token is required"),
        ("token: $missing\napiURL: https://git.example.com\n", "no key 'missing'"),
        ("token: x\n", "URL is required"),
        ("token: x\napiURL: ftp://git.example.com\n", "http(s)"),
        ("token: x\napiURL: https://u:p@git.example.com\n", "credentials"),
        ("token: x\napiURL: https://git.example.com\ntargetURL: javascript:1\n", "targetURL"),
        ("- a list\n", "not a mapping"),
    ],
)
def test_unusable_services_are_reported_by_key(body: str, why: str) -> None:
    services, problems = cs.parse_services({"service.gitea": body}, {"t": TOKEN})
    assert services == {}
    assert len(problems) == 1 and problems[0].startswith("service.gitea: ") and why in problems[0]


@pytest.mark.parametrize(
    "repo",
    [
        "https://github.com/team/..",
        "https://github.com/../deploy",
        "https://github.com/deploy",
        "https://github.com/team/deploy%2F..%2Fadmin",
        "https://github.com/team/de ploy",
        "file:///srv/git/deploy",
    ],
)
def test_a_hostile_repository_url_never_reaches_another_api_path(repo: str) -> None:
    github = service("github", "token: $t\n")
    with pytest.raises(forge.ForgeError):
        cs.request(notice(n.SYNC_SUCCEEDED), github, app(repo))


@pytest.mark.parametrize("revision", ["main", "HEAD~1", SHA[:12], SHA + "/../x", SHA.upper()])
def test_only_a_full_commit_id_is_marked(revision: str) -> None:
    github = service("github", "token: $t\n")
    with pytest.raises(forge.ForgeError):
        cs.request(notice(n.SYNC_SUCCEEDED, revision=revision), github, app())


def test_scp_and_ssh_repository_urls_name_the_same_repository() -> None:
    for url in (
        "git@github.com:team/deploy.git",
        "ssh://git@github.com/team/deploy",
        "https://user:pw@github.com/team/deploy/",
    ):
        assert forge.repository(url, forge.GITHUB).path == "team/deploy"
