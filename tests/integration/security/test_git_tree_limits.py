"""The tree reader cannot be made to produce millions of files from a small repository.

The attack of the security review: directories of links to the next
directory, ten per level, so a few kilobytes of repository expand to a
million files. Reading stops at the first spent limit with an error naming
it; links never leave the repository.
"""

from __future__ import annotations

import time

import pytest

from tether.adapters.git import PathEscapeError, RepoCache, TreeLimitError, tree


def fan_out(levels: int, width: int) -> dict[str, str]:
    return {
        f"fan/d{level}/l{n}": f"../d{level + 1}" for level in range(levels) for n in range(width)
    }


def test_a_symlink_fan_out_stops_at_the_link_limit(git_repo, repo_cache: RepoCache) -> None:
    sha = git_repo.commit(
        {"fan/d6/cm.yaml": "apiVersion: v1\nkind: ConfigMap\n", "app/cm.yaml": "a: 1\n"},
        symlinks=fan_out(6, 10),
    )
    started = time.monotonic()
    limit = f"more than {tree.MAX_LINK_EXPANSIONS} symbolic links"
    with pytest.raises(TreeLimitError, match=limit):
        repo_cache.read_tree(git_repo.local_path, sha, "")
    assert time.monotonic() - started < 10
    assert repo_cache.read_tree(git_repo.local_path, sha, "app") == {"cm.yaml": b"a: 1\n"}


def test_file_and_byte_limits_name_themselves(
    git_repo, repo_cache: RepoCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = git_repo.commit({f"app/f{i}.yaml": "x" * 100 for i in range(5)})
    monkeypatch.setattr(tree, "MAX_TREE_FILES", 3)
    with pytest.raises(TreeLimitError, match="more than 3 files"):
        repo_cache.read_tree(git_repo.local_path, sha, "app")
    monkeypatch.setattr(tree, "MAX_TREE_FILES", 100)
    monkeypatch.setattr(tree, "MAX_TREE_BYTES", 250)
    with pytest.raises(TreeLimitError, match="more than 250 bytes"):
        repo_cache.read_tree(git_repo.local_path, sha, "app")


def test_a_link_out_of_the_repository_is_never_followed(git_repo, repo_cache: RepoCache) -> None:
    sha = git_repo.commit({"app/a.yaml": "a\n"}, symlinks={"app/etc": "../../../../etc"})
    with pytest.raises(PathEscapeError, match="escapes the repository"):
        repo_cache.read_tree(git_repo.local_path, sha, "")
