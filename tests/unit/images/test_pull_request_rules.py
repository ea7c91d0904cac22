"""The pull request of an update branch, on plain data: spec, matching, text, due-ness."""

from __future__ import annotations

from typing import Any

import pytest

from tether.adapters.git.writeback import WriteResult
from tether.controller.images.pullrequests import PullRequests
from tether.engine import forge
from tether.engine.images import pullrequest as pr
from tether.engine.images import spec as model

REPO = "https://git.example.com/team/deploy.git"


def spec(**write_back: Any) -> model.ImagePolicySpec:
    return model.parse_spec(
        {
            "image": "registry.example.com/team/api",
            "policy": {"semver": {"range": "1.x"}},
            "writeBack": {"repoURL": REPO, **write_back},
        }
    )


GITEA = {"gitea": {"api": "https://git.example.com", "tokenRef": {"secretName": "forge"}}}


def target() -> pr.Target:
    config = spec(pushBranch="image-updates", pullRequest=GITEA).write_back.pull_request
    assert config is not None
    return pr.target(config, REPO, "image-updates", "main", "tok")


def pull(number: int, head: str, base: str = "main", repo: str = "team/deploy") -> dict[str, Any]:
    return {
        "number": number,
        "state": "open",
        "head": {"ref": head, "repo": {"full_name": repo}},
        "base": {"ref": base},
    }


def test_the_argo_cd_pull_request_generator_shape_is_read() -> None:
    config = spec(pushBranch="image-updates", pullRequest=GITEA).write_back.pull_request
    assert config is not None
    assert config.kind == forge.GITEA
    assert config.provider.token_ref.key == "token"
    github = spec(
        pushBranch="u", pullRequest={"github": {"tokenRef": {"secretName": "gh", "key": "pat"}}}
    ).write_back.pull_request
    assert github is not None and github.kind == forge.GITHUB


@pytest.mark.parametrize(
    ("write_back", "why"),
    [
        ({"pullRequest": GITEA}, "pushBranch other than branch"),
        ({"pushBranch": "main", "pullRequest": GITEA}, "pushBranch other than branch"),
        ({"pushBranch": "u", "pullRequest": {}}, "exactly one of github, gitea"),
        ({"pushBranch": "u", "pullRequest": {**GITEA, "github": GITEA["gitea"]}}, "exactly one"),
        ({"pushBranch": "u", "pullRequest": {"gitea": {"tokenRef": {"secretName": "s"}}}}, "URL"),
        (
            {"pushBranch": "u", "pullRequest": {"gitea": {"api": "https://x", "tokenRef": {}}}},
            "secretName",
        ),
    ],
)
def test_a_pull_request_without_its_own_branch_or_host_is_refused(
    write_back: dict[str, Any], why: str
) -> None:
    with pytest.raises(model.SpecError, match=why):
        spec(**write_back)


def test_only_the_open_request_from_our_branch_in_our_repository_matches() -> None:
    t = target()
    assert t.pulls_url == "https://git.example.com/api/v1/repos/team/deploy/pulls"
    assert "base_branch=main" in pr.list_url(t, 1)
    pulls = [
        pull(1, "image-updates", base="release"),
        pull(2, "image-updates", repo="someone/deploy"),
        pull(3, "other"),
        {**pull(4, "image-updates"), "state": "closed"},
        pull(5, "image-updates"),
    ]
    found = pr.find_open(pulls, t)
    assert found is not None and found["number"] == 5
    assert pr.find_open(pulls[:4], t) is None
    assert pr.find_open({"message": "not a list"}, t) is None


def test_title_and_description_come_from_the_commit_message() -> None:
    title, body = pr.text(
        "Update api to 1.2.0\n\nImagePolicy tether/api: 1.1.0 -> 1.2.0",
        "tether",
        "api",
        "image-updates",
    )
    assert title == "Update api to 1.2.0"
    assert body.startswith("ImagePolicy tether/api: 1.1.0 -> 1.2.0\n\n")
    assert "`image-updates`" in body
    assert pr.text("", "ns", "p", "b")[0] == "Update images"


def test_a_target_never_carries_the_token_in_its_repr_and_refuses_a_bad_one() -> None:
    assert "tok" not in repr(target())
    config = spec(pushBranch="u", pullRequest=GITEA).write_back.pull_request
    assert config is not None
    with pytest.raises(forge.ForgeError):
        pr.target(config, REPO, "u", "main", "tok\nX-Evil: 1")


def test_a_pull_request_is_due_for_a_new_commit_or_a_pushed_commit_without_one() -> None:
    wb = spec(pushBranch="image-updates", pullRequest=GITEA).write_back
    new = WriteResult("a" * 40, "image-updates", "b" * 40)
    same = WriteResult(None, "image-updates", "a" * 40)
    pushed = {"lastCommit": {"sha": "a" * 40, "branch": "image-updates"}}
    assert PullRequests.due(wb, new, {})
    assert PullRequests.due(wb, same, pushed)
    assert not PullRequests.due(wb, same, {**pushed, "pullRequest": {"head": "a" * 40}})
    assert not PullRequests.due(wb, same, {})
    plain = spec(pushBranch="image-updates").write_back
    assert not PullRequests.due(plain, new, {})
