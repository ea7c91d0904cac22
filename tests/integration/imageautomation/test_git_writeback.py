"""Write-back against the real git daemon: comments kept, races retried, dry runs diff."""

from __future__ import annotations

import subprocess
from pathlib import Path

from fixtures.gitserver import GitServer
from tether.adapters.git import GitIdentity
from tether.adapters.git.writeback import GitWriter
from tether.engine.images.markers import FileEdit, Target, plan_kustomize, plan_markers

AUTHOR = GitIdentity("Tether Image Automation", "images@tether.example")
DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api  # the API
spec:
  template:
    spec:
      containers:
        - name: api
          # bumped by automation
          image: 127.0.0.1:5000/team/api:1.0.0 # {"$imagepolicy": "tether:api"}
"""
KUSTOMIZATION = """\
resources:
  - deployment.yaml
images:
  - name: 127.0.0.1:5000/team/web
    newTag: 1.0.0 # the web image
"""


def markers(target: Target) -> object:
    return lambda files: plan_markers(files, target)


def test_the_new_tag_is_committed_with_marker_and_comments_kept(
    git_server: GitServer, tmp_path: Path
) -> None:
    repo = git_server.create_repo({"apps/api/deployment.yaml": DEPLOY, "README.md": "x\n"})
    writer = GitWriter(tmp_path / "wb")
    target = Target("tether", "api", "127.0.0.1:5000/team/api", "1.1.0")
    result = writer.write(
        repo.git_url,
        branch="main",
        plan=lambda files: plan_markers(files, target),
        message="Update api to 1.1.0",
        author=AUTHOR,
        paths=["apps"],
    )
    assert result.sha == repo.head()
    repo.git("pull", "-q", "origin", "main")
    assert (repo.work / "apps/api/deployment.yaml").read_text() == DEPLOY.replace(
        "api:1.0.0 #", "api:1.1.0 #"
    )
    assert repo.git("log", "-1", "--format=%an <%ae>|%s") == (
        "Tether Image Automation <images@tether.example>|Update api to 1.1.0"
    )
    again = writer.write(
        repo.git_url,
        branch="main",
        plan=lambda files: plan_markers(files, target),
        message="nothing",
        author=AUTHOR,
    )
    assert again.sha is None and repo.head() == result.sha


def test_two_automations_racing_on_one_branch_both_land(
    git_server: GitServer, tmp_path: Path
) -> None:
    repo = git_server.create_repo(
        {"apps/api/deployment.yaml": DEPLOY, "apps/web/kustomization.yaml": KUSTOMIZATION}
    )
    first, second = GitWriter(tmp_path / "one"), GitWriter(tmp_path / "two")
    api = Target("tether", "api", "127.0.0.1:5000/team/api", "1.1.0")
    web = Target("tether", "web", "127.0.0.1:5000/team/web", "2.0.0")
    planned: list[str] = []

    def plan_api_while_web_lands(files: dict[str, str]) -> list[FileEdit]:
        # The other automation pushes between this one's fetch and its push.
        if not planned:
            second.write(
                repo.git_url,
                branch="main",
                plan=lambda f: [e for e in [plan_kustomize("apps/web/kustomization.yaml",
                                f["apps/web/kustomization.yaml"], web)] if e],
                message="Update web to 2.0.0",
                author=AUTHOR,
            )  # fmt: skip
        planned.append(repo.head())
        return plan_markers(files, api)

    result = first.write(
        repo.git_url,
        branch="main",
        plan=plan_api_while_web_lands,
        message="Update api to 1.1.0",
        author=AUTHOR,
    )
    assert result.attempts == 2
    repo.git("pull", "-q", "origin", "main")
    assert repo.git("log", "--format=%s", "main", "-3").splitlines() == [
        "Update api to 1.1.0",
        "Update web to 2.0.0",
        "initial commit",
    ]
    assert "api:1.1.0 #" in (repo.work / "apps/api/deployment.yaml").read_text()
    assert (
        "newTag: 2.0.0 # the web image" in (repo.work / "apps/web/kustomization.yaml").read_text()
    )


def test_dry_run_shows_the_diff_and_pushes_nothing(git_server: GitServer, tmp_path: Path) -> None:
    repo = git_server.create_repo({"deploy.yaml": DEPLOY})
    before = repo.head()
    target = Target("tether", "api", "127.0.0.1:5000/team/api", "1.2.0")
    result = GitWriter(tmp_path / "wb").write(
        repo.git_url,
        branch="main",
        plan=lambda files: plan_markers(files, target),
        message="x",
        author=AUTHOR,
        dry_run=True,
    )
    assert result.sha is None and repo.head() == before
    assert "+          image: 127.0.0.1:5000/team/api:1.2.0 #" in result.diff


def test_a_push_branch_gets_the_change_and_the_base_branch_stays(
    git_server: GitServer, tmp_path: Path
) -> None:
    repo = git_server.create_repo({"deploy.yaml": DEPLOY})
    before = repo.head()
    target = Target("tether", "api", "127.0.0.1:5000/team/api", "1.3.0")
    result = GitWriter(tmp_path / "wb").write(
        repo.git_url,
        branch="main",
        push_branch="image-updates",
        plan=lambda files: plan_markers(files, target),
        message="Update api to 1.3.0",
        author=AUTHOR,
    )
    assert repo.head() == before
    assert repo.head("image-updates") == result.sha


def test_a_commit_signed_with_an_ssh_key_verifies(git_server: GitServer, tmp_path: Path) -> None:
    key = tmp_path / "signing"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tether", "-f", str(key)],
        check=True,
    )
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"{AUTHOR.email} {(tmp_path / 'signing.pub').read_text()}")
    repo = git_server.create_repo({"deploy.yaml": DEPLOY})
    target = Target("tether", "api", "127.0.0.1:5000/team/api", "1.4.0")
    result = GitWriter(tmp_path / "wb").write(
        repo.git_url,
        branch="main",
        plan=lambda files: plan_markers(files, target),
        message="Update api to 1.4.0",
        author=AUTHOR,
        signing_key=key.read_text(),
    )
    repo.git("pull", "-q", "origin", "main")
    assert repo.head() == result.sha
    verified = repo.git(
        "-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={allowed}",
        "log", "-1", "--format=%G?",
    )  # fmt: skip
    assert verified == "G"
