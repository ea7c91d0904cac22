"""Push webhooks: GitHub, GitLab, Gitea and Bitbucket, with valid and invalid signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from tether.engine.webhook import Push, WebhookError, parse, sign

SECRET = "webhook-secret"


def _body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


GITHUB = {
    "ref": "refs/heads/main",
    "repository": {
        "clone_url": "https://github.com/acme/finance.git",
        "html_url": "https://github.com/acme/finance",
        "ssh_url": "git@github.com:acme/finance.git",
        "git_url": "git://github.com/acme/finance.git",
    },
}
GITEA = {
    "ref": "refs/heads/main",
    "repository": {
        "clone_url": "https://gitea.example.com/acme/finance.git",
        "html_url": "https://gitea.example.com/acme/finance",
        "ssh_url": "git@gitea.example.com:acme/finance.git",
    },
}
GITLAB = {
    "object_kind": "push",
    "ref": "refs/heads/main",
    "project": {
        "git_http_url": "https://gitlab.com/acme/finance.git",
        "git_ssh_url": "git@gitlab.com:acme/finance.git",
        "web_url": "https://gitlab.com/acme/finance",
    },
}
BITBUCKET = {
    "push": {"changes": [{"new": {"name": "main"}}]},
    "changes": [{"ref": {"id": "refs/heads/main"}}],
    "repository": {
        "links": {
            "clone": [
                {"href": "https://bitbucket.example.com/scm/acme/finance.git", "name": "http"},
                {"href": "ssh://git@bitbucket.example.com:7999/acme/finance.git", "name": "ssh"},
            ],
            "self": [{"href": "https://bitbucket.example.com/projects/ACME/repos/finance/browse"}],
        }
    },
}


def test_github_push_with_valid_signature_names_every_repository_url() -> None:
    body = _body(GITHUB)
    push = parse(
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(SECRET, body)}, body, SECRET
    )
    assert push == Push(
        "github",
        (
            "https://github.com/acme/finance.git",
            "https://github.com/acme/finance",
            "git@github.com:acme/finance.git",
            "git://github.com/acme/finance.git",
        ),
        "refs/heads/main",
    )


def test_github_push_with_a_wrong_signature_is_rejected_401() -> None:
    body = _body(GITHUB)
    with pytest.raises(WebhookError) as caught:
        parse({"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("other", body)}, body, SECRET)
    assert caught.value.status == 401
    assert "github" in str(caught.value)


def test_github_push_with_no_signature_is_rejected() -> None:
    with pytest.raises(WebhookError) as caught:
        parse({"X-GitHub-Event": "push"}, _body(GITHUB), SECRET)
    assert caught.value.status == 401


def test_github_signature_over_a_different_body_is_rejected() -> None:
    signed = sign(SECRET, _body(GITHUB))
    tampered = _body(GITHUB | {"ref": "refs/heads/evil"})
    with pytest.raises(WebhookError):
        parse({"X-GitHub-Event": "push", "X-Hub-Signature-256": signed}, tampered, SECRET)


def test_github_ping_is_accepted_but_is_not_a_push() -> None:
    body = _body({"zen": "hi"})
    assert (
        parse({"X-GitHub-Event": "ping", "X-Hub-Signature-256": sign(SECRET, body)}, body, SECRET)
        is None
    )


def test_gitea_push_uses_the_bare_hex_signature() -> None:
    body = _body(GITEA)
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    push = parse({"X-Gitea-Event": "push", "X-Gitea-Signature": digest}, body, SECRET)
    assert push is not None and push.provider == "gitea"
    assert "https://gitea.example.com/acme/finance.git" in push.urls
    assert push.ref == "refs/heads/main"


def test_gitea_push_with_a_wrong_signature_is_rejected() -> None:
    body = _body(GITEA)
    with pytest.raises(WebhookError) as caught:
        parse({"X-Gitea-Event": "push", "X-Gitea-Signature": "00" * 32}, body, SECRET)
    assert caught.value.status == 401


def test_gitlab_push_with_the_shared_token() -> None:
    push = parse({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET}, _body(GITLAB), SECRET)
    assert push is not None and push.provider == "gitlab"
    assert push.urls == (
        "https://gitlab.com/acme/finance.git",
        "git@gitlab.com:acme/finance.git",
        "https://gitlab.com/acme/finance",
    )


def test_gitlab_tag_push_is_a_push() -> None:
    push = parse(
        {"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": SECRET},
        _body(GITLAB | {"ref": "refs/tags/v1"}),
        SECRET,
    )
    assert push is not None and push.ref == "refs/tags/v1"


def test_gitlab_push_with_a_wrong_token_is_rejected() -> None:
    with pytest.raises(WebhookError) as caught:
        parse({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "guess"}, _body(GITLAB), SECRET)
    assert caught.value.status == 401
    assert "gitlab" in str(caught.value)


def test_gitlab_merge_request_event_is_not_a_push() -> None:
    assert (
        parse(
            {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": SECRET},
            _body({"object_kind": "merge_request"}),
            SECRET,
        )
        is None
    )


def test_bitbucket_push_with_valid_signature_names_clone_and_browse_urls() -> None:
    body = _body(BITBUCKET)
    push = parse(
        {"X-Event-Key": "repo:refs_changed", "X-Hub-Signature": sign(SECRET, body)}, body, SECRET
    )
    assert push is not None and push.provider == "bitbucket"
    assert "https://bitbucket.example.com/scm/acme/finance.git" in push.urls
    assert "ssh://git@bitbucket.example.com:7999/acme/finance.git" in push.urls
    assert push.ref == "refs/heads/main"


def test_bitbucket_push_with_a_wrong_signature_is_rejected() -> None:
    body = _body(BITBUCKET)
    with pytest.raises(WebhookError) as caught:
        parse({"X-Event-Key": "repo:push", "X-Hub-Signature": sign("nope", body)}, body, SECRET)
    assert caught.value.status == 401


def test_unknown_sender_is_a_400() -> None:
    with pytest.raises(WebhookError) as caught:
        parse({"Content-Type": "application/json"}, b"{}", SECRET)
    assert caught.value.status == 400


def test_no_configured_secret_refuses_every_webhook() -> None:
    body = _body(GITHUB)
    with pytest.raises(WebhookError) as caught:
        parse({"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("", body)}, body, "")
    assert caught.value.status == 503


def test_signed_push_whose_body_is_not_json_is_a_400() -> None:
    body = b"not json"
    with pytest.raises(WebhookError) as caught:
        parse({"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(SECRET, body)}, body, SECRET)
    assert caught.value.status == 400
