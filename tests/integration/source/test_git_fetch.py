"""RepoCache against real repositories: resolving revisions, reading trees, reverting."""

from __future__ import annotations

import threading

import pytest

from tether.adapters.git import (
    GitIdentity,
    PathEscapeError,
    PathNotFoundError,
    RepoCache,
    RevisionNotFoundError,
)


def test_resolves_branch_tags_and_shas(git_server, repo_cache: RepoCache) -> None:
    repo = git_server.create_repo({"app/a.yaml": "a: 1\n"})
    first = repo.head()
    repo.tag("v1")
    repo.tag("v1-annotated", annotated=True)
    second = repo.commit({"app/a.yaml": "a: 2\n"}, branch="main")
    dev = repo.commit({"app/a.yaml": "a: dev\n"}, branch="dev")
    url = repo.local_path

    assert repo_cache.resolve(url, "main") == second
    assert repo_cache.resolve(url, "refs/heads/main") == second
    assert repo_cache.resolve(url, "dev") == dev
    assert repo_cache.resolve(url, "v1") == first
    assert repo_cache.resolve(url, "v1-annotated") == first
    assert repo_cache.resolve(url, first) == first
    assert repo_cache.resolve(url, first[:10]) == first
    assert repo_cache.resolve(url, "HEAD") in (second, dev)


def test_unknown_revision_is_named(git_repo, repo_cache: RepoCache) -> None:
    with pytest.raises(RevisionNotFoundError, match="revision 'v9' not found in"):
        repo_cache.resolve(git_repo.local_path, "v9")
    with pytest.raises(RevisionNotFoundError, match="not found"):
        repo_cache.resolve(git_repo.local_path, "0" * 40)


def test_sha_not_fetched_yet_is_fetched(git_repo, tmp_path) -> None:
    old = git_repo.head()
    git_repo.commit({"x.yaml": "x: 1\n"})
    cache = RepoCache(tmp_path / "fresh")
    assert cache.resolve(git_repo.git_url, old) == old
    assert cache.read_tree(git_repo.git_url, old, "") == {"README.md": b"# test repository\n"}


def test_read_tree_without_checkout(git_server, repo_cache: RepoCache) -> None:
    repo = git_server.create_repo(
        {
            "apps/web/deploy.yaml": "kind: Deployment\n",
            "apps/web/sub/cm.yaml": "cm\n",
            "top.txt": "t",
        }
    )
    sha = repo_cache.resolve(repo.file_url, "main")
    assert repo_cache.read_tree(repo.file_url, sha, "apps/web") == {
        "deploy.yaml": b"kind: Deployment\n",
        "sub/cm.yaml": b"cm\n",
    }
    assert repo_cache.read_tree(repo.file_url, sha, "apps/web/deploy.yaml") == {
        "deploy.yaml": b"kind: Deployment\n"
    }
    assert set(repo_cache.read_tree(repo.file_url, sha, "")) == {
        "apps/web/deploy.yaml",
        "apps/web/sub/cm.yaml",
        "top.txt",
    }
    assert repo_cache.path_exists(repo.file_url, sha, "apps/web")
    assert not repo_cache.path_exists(repo.file_url, sha, "apps/db")
    with pytest.raises(PathNotFoundError, match="path 'apps/db' not found at"):
        repo_cache.read_tree(repo.file_url, sha, "apps/db")


def test_read_tree_at_an_older_commit(git_repo, repo_cache: RepoCache) -> None:
    old = git_repo.commit({"app/a.yaml": "v: 1\n"})
    git_repo.commit({"app/a.yaml": "v: 2\n", "app/b.yaml": "b\n"})
    new = repo_cache.resolve(git_repo.local_path, "main")
    assert repo_cache.read_tree(git_repo.local_path, old, "app") == {"a.yaml": b"v: 1\n"}
    assert repo_cache.read_tree(git_repo.local_path, new, "app")["a.yaml"] == b"v: 2\n"


def test_symlinks_resolve_inside_the_repository(git_repo, repo_cache: RepoCache) -> None:
    sha = git_repo.commit(
        {"shared/cm.yaml": "cm\n", "app/own.yaml": "own\n"},
        symlinks={"app/linked.yaml": "../shared/cm.yaml", "app/shared": "../shared"},
    )
    files = repo_cache.read_tree(git_repo.local_path, sha, "app")
    assert files == {"own.yaml": b"own\n", "linked.yaml": b"cm\n", "shared/cm.yaml": b"cm\n"}
    git_repo.commit({}, symlinks={"linkdir": "app"})
    sha = repo_cache.resolve(git_repo.local_path, "main")
    assert "own.yaml" in repo_cache.read_tree(git_repo.local_path, sha, "linkdir")


def test_escaping_symlink_and_path_are_errors_naming_them(git_repo, repo_cache) -> None:
    sha = git_repo.commit({"app/a.yaml": "a\n"}, symlinks={"app/passwd": "../../etc/passwd"})
    with pytest.raises(PathEscapeError, match=r"symlink 'app/passwd' -> '../../etc/passwd'"):
        repo_cache.read_tree(git_repo.local_path, sha, "app")
    with pytest.raises(PathEscapeError, match=r"path '../outside' escapes"):
        repo_cache.read_tree(git_repo.local_path, sha, "../outside")
    sha = git_repo.commit({}, symlinks={"app/passwd": "/etc/passwd"})
    with pytest.raises(PathEscapeError, match="absolute target"):
        repo_cache.read_tree(git_repo.local_path, sha, "app")


def test_commit_message_and_info(git_repo, repo_cache: RepoCache) -> None:
    sha = git_repo.commit({"a": "1"}, message="bump finance-api to 1.5\n\nbody text")
    assert repo_cache.commit_message(git_repo.local_path, sha).startswith("bump finance-api to 1.5")
    info = repo_cache.commit_info(git_repo.local_path, sha)
    assert (info.sha, info.author_email) == (sha, "author@example.com")


def test_url_spellings_share_one_cache_entry(git_repo, repo_cache: RepoCache) -> None:
    repo_cache.resolve(git_repo.local_path, "main")
    repo_cache.resolve(git_repo.file_url, "main")
    repo_cache.resolve(git_repo.local_path + "/", "main")
    assert len([p for p in repo_cache.cache_dir.iterdir() if p.is_dir()]) == 1


def test_revert_creates_and_pushes_a_revert_commit(git_repo, repo_cache: RepoCache) -> None:
    git_repo.commit({"app/deploy.yaml": "replicas: 1\n"}, message="one replica")
    bad = git_repo.commit({"app/deploy.yaml": "replicas: 9\n"}, message="nine replicas")
    url = git_repo.git_url
    repo_cache.resolve(url, "main")
    new = repo_cache.revert(url, bad, GitIdentity("Tether", "tether@example.com"), "main")
    assert git_repo.head() == new
    assert git_repo.show(new, "app/deploy.yaml") == "replicas: 1"
    message = repo_cache.commit_message(url, new)
    assert message.startswith('Revert "nine replicas"') and bad in message


def test_concurrent_resolves_share_the_repository(git_repo, repo_cache: RepoCache) -> None:
    head = git_repo.head()
    results: list[str] = []
    errors: list[Exception] = []

    def worker() -> None:
        try:
            results.append(repo_cache.resolve(git_repo.git_url, "main"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and results == [head] * 8


def test_max_age_reuses_listed_heads(git_repo, repo_cache: RepoCache) -> None:
    first = repo_cache.resolve(git_repo.local_path, "main")
    git_repo.commit({"b": "2"})
    assert repo_cache.resolve(git_repo.local_path, "main", max_age=300) == first
    assert repo_cache.resolve(git_repo.local_path, "main") == git_repo.head()


def test_render_straight_from_a_commit(git_server, repo_cache: RepoCache) -> None:
    from pathlib import Path

    from tether.adapters.render import RenderCache, load_directory

    example = Path(__file__).resolve().parents[3] / "examples" / "finance-app"
    files = {f"deploy/{k}": v for k, v in load_directory(example).items()}
    repo = git_server.create_repo(files)
    sha = repo_cache.resolve(repo.git_url, "main")
    renders = RenderCache()
    spec = {"path": "deploy/kustomize/overlays/prod"}
    objects = renders.render(
        repo.git_url, sha, lambda: repo_cache.read_tree(repo.git_url, sha, ""), spec
    )
    assert {o["kind"] for o in objects} == {"ConfigMap", "Deployment", "Service"}
