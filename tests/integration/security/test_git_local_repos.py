"""Repositories on the controller's own filesystem, and credentials in repository URLs.

A ``repoURL`` of ``/etc/...``, ``file:///...`` or a relative path would make
the controller read its own disk (other tenants' clones, the cache, any Git
directory it can see). They are refused unless the controller runs with
``allow_local_repos``. And whatever happens, Git errors never repeat the
userinfo of ``https://user:token@host``.
"""

from __future__ import annotations

import pytest

from fixtures.gitserver import HTTP_PASSWORD, HTTP_USER
from tether.adapters import git
from tether.controller.sources.step import LocalRepositoryError, Sources
from tether.engine.application import parse_spec


def spec(url: str, path: str = "app") -> object:
    return parse_spec(
        {
            "source": {"repoURL": url, "path": path, "targetRevision": "main"},
            "destination": {"namespace": "d"},
        }
    )


@pytest.fixture
def local_repo(git_server):
    return git_server.create_repo(
        files={"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n"}
    )


@pytest.mark.parametrize("kind", ["local_path", "file_url", "relative"])
async def test_a_local_repository_is_refused_by_default(local_repo, tmp_path, kind: str) -> None:
    url = {
        "local_path": local_repo.local_path,
        "file_url": local_repo.file_url,
        "relative": "../" + local_repo.name + ".git",
    }[kind]
    sources = Sources(git.RepoCache(tmp_path / "cache"))
    try:
        with pytest.raises(LocalRepositoryError, match="--allow-local-repos"):
            await sources.resolve(spec(url), None, None)  # type: ignore[arg-type]
        with pytest.raises(LocalRepositoryError, match="local path or file:// URL"):
            await sources.render("a", spec(url), "0" * 40, None, app_name="a")  # type: ignore[arg-type]
        assert not any((tmp_path / "cache").iterdir())  # nothing was cloned
    finally:
        sources.close()


async def test_local_repositories_work_when_allowed(local_repo, tmp_path) -> None:
    sources = Sources(git.RepoCache(tmp_path / "cache"), allow_local_repos=True)
    try:
        app = spec(local_repo.file_url)
        sha = await sources.resolve(app, None, None)  # type: ignore[arg-type]
        result = await sources.render("a", app, sha, None, app_name="a")  # type: ignore[arg-type]
        assert result.objects[0]["metadata"]["name"] == "local"
    finally:
        sources.close()


def test_git_errors_never_show_url_userinfo(git_server, repo_cache: git.RepoCache) -> None:
    repo = git_server.create_repo()
    host = repo.http_url.split("://", 1)[1]
    wrong = f"http://{HTTP_USER}:wrong-token-123@{host}"
    with pytest.raises(git.GitError) as info:
        repo_cache.resolve(wrong, "main")
    assert "401" in str(info.value)
    assert "wrong-token-123" not in str(info.value) and f"{HTTP_USER}:" not in str(info.value)
    right = f"http://{HTTP_USER}:{HTTP_PASSWORD}@{host}"
    for call in (
        lambda: repo_cache.resolve(right, "no-such-branch"),
        lambda: repo_cache.read_tree(right, repo_cache.resolve(right, "main"), "missing/path"),
    ):
        with pytest.raises(git.GitError) as info:
            call()
        assert HTTP_PASSWORD not in str(info.value) and f"{HTTP_USER}:" not in str(info.value)
