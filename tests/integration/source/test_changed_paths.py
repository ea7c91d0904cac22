"""changed_paths: which files a new commit touched, so untouched apps skip re-rendering."""

from __future__ import annotations

from tether.adapters.git import ChangedPaths, RepoCache


def test_modified_added_deleted_and_renamed(git_server, repo_cache: RepoCache) -> None:
    repo = git_server.create_repo(
        {"apps/web/a.yaml": "a\n", "apps/db/b.yaml": "b\n", "apps/db/old.yaml": "o\n"}
    )
    old = repo.head()
    new = repo.commit(
        {
            "apps/web/a.yaml": "a2\n",
            "apps/web/new.yaml": "n\n",
            "apps/db/b.yaml": None,
            "apps/db/old.yaml": None,
            "apps/db/renamed.yaml": "o\n",
        }
    )
    changed = repo_cache.changed_paths(repo.local_path, old, new)
    assert changed == {
        "apps/web/a.yaml",
        "apps/web/new.yaml",
        "apps/db/b.yaml",
        "apps/db/old.yaml",
        "apps/db/renamed.yaml",
    }


def test_untouched_app_is_skipped(git_server, repo_cache: RepoCache) -> None:
    repo = git_server.create_repo({"apps/web/a.yaml": "a\n", "apps/db/b.yaml": "b\n"})
    old = repo.head()
    new = repo.commit({"apps/web/a.yaml": "a2\n", "docs/README.md": "docs\n"})
    changed = repo_cache.changed_paths(repo.git_url, old, new)
    assert changed.touches("apps/web")
    assert not changed.touches("apps/db")
    assert not changed.touches("apps/we")
    assert changed.touches("")
    assert ChangedPaths({"apps"}).touches("apps/web")  # a replaced parent touches the app


def test_same_commit_has_no_changes(git_repo, repo_cache: RepoCache) -> None:
    sha = git_repo.head()
    assert repo_cache.changed_paths(git_repo.local_path, sha, sha) == set()


def test_old_commit_fetched_on_demand(git_repo, tmp_path) -> None:
    old = git_repo.head()
    new = git_repo.commit({"app/x.yaml": "x\n"})
    cache = RepoCache(tmp_path / "fresh")
    assert cache.resolve(git_repo.git_url, "main") == new  # shallow: only the tip
    assert cache.changed_paths(git_repo.git_url, old, new) == {"app/x.yaml"}
