"""A repository fetched after every commit keeps few packs, few open files, few objects.

Found by the soak: libgit2 writes a pack per fetch, and each repository handle
dropped after a fetch kept its packs open until the garbage collector found it,
so the controller gained one open file per commit (24 to 41 in two minutes of
a commit every 5 s) and would have run out of file descriptors within hours.
Then the one pack those were consolidated into held every object ever fetched,
and the shallow file every commit ever fetched, both growing with every commit.
"""

from __future__ import annotations

import os
from pathlib import Path

import pygit2

from tether.adapters.git import RepoCache
from tether.adapters.git.packs import AUTO_PACK_LIMIT, consolidate_packs
from tether.adapters.git.repo_cache import COMMITS_KEPT


def _open_packs() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += ".pack" in target
    return count


def test_commits_fetched_one_by_one_leave_no_pack_open_behind(git_repo, tmp_path) -> None:
    cache = RepoCache(tmp_path / "cache")
    url = git_repo.git_url
    cache.resolve(url, "main")
    before = _open_packs()
    for n in range(AUTO_PACK_LIMIT + 10):
        sha = git_repo.commit({"app/cm.yaml": f"n: {n}\n"})
        assert cache.resolve(url, "main") == sha
        assert cache.read_tree(url, sha, "app") == {"cm.yaml": f"n: {n}\n".encode()}
    assert _open_packs() <= before + 2
    packs = list((tmp_path / "cache").rglob("pack-*.pack"))
    assert len(packs) <= AUTO_PACK_LIMIT


def _fetched_one_by_one(git_repo, cache: RepoCache, count: int) -> list[str]:
    shas = []
    for n in range(count):
        shas.append(git_repo.commit({f"f{n}.yaml": f"n: {n}\n"}))
        assert cache.resolve(git_repo.git_url, "main") == shas[-1]
    return shas


def _cached(tmp_path: Path) -> Path:
    return next(p.parents[2] for p in (tmp_path / "cache").rglob("pack-*.pack"))


def test_consolidation_keeps_the_refs_and_the_commits_asked_for_and_drops_the_rest(
    git_repo, tmp_path
) -> None:
    cache = RepoCache(tmp_path / "cache")
    shas = _fetched_one_by_one(git_repo, cache, 8)
    path = _cached(tmp_path)
    assert consolidate_packs(path, keep=[shas[2]], limit=3)
    assert len(list(path.rglob("pack-*.pack"))) == 1
    repo = pygit2.Repository(str(path))
    assert shas[7] in repo and shas[2] in repo
    assert all(sha not in repo for sha in shas[:2] + shas[3:7])
    # Only the kept commits stay shallow roots: libgit2 sends each root on every fetch.
    assert set((path / "shallow").read_text().split()) == {shas[2], shas[7]}
    again = RepoCache(tmp_path / "cache")
    for n, sha in enumerate(shas):  # a dropped commit is fetched again when asked for
        assert again.read_tree(git_repo.git_url, sha, "")[f"f{n}.yaml"] == f"n: {n}\n".encode()
    assert not consolidate_packs(path, limit=3)


def test_history_fetched_after_a_consolidation_is_whole(git_repo, tmp_path) -> None:
    """The server is told only what the cache still holds, so an unshallow fetch fills the gaps."""
    cache = RepoCache(tmp_path / "cache")
    shas = _fetched_one_by_one(git_repo, cache, 6)
    path = _cached(tmp_path)
    assert consolidate_packs(path, limit=3)
    cache.fetch(git_repo.git_url, depth=0)
    repo = pygit2.Repository(str(path))
    walked = [str(c.id) for c in repo.walk(repo.references["refs/heads/main"].target)]
    assert walked[: len(shas)] == shas[::-1]
    for sha in walked:
        assert repo.get(sha).tree is not None


def test_the_cache_keeps_the_commits_it_read_lately_across_a_consolidation(
    git_repo, tmp_path
) -> None:
    cache = RepoCache(tmp_path / "cache")
    url = git_repo.git_url
    first = git_repo.commit({"app/cm.yaml": "n: first\n"})
    cache.resolve(url, "main")
    shas = _fetched_one_by_one(git_repo, cache, AUTO_PACK_LIMIT + 2)
    cache.read_tree(url, first, "app")  # an app still on an older commit reads it
    shas += _fetched_one_by_one(git_repo, cache, AUTO_PACK_LIMIT + 2)
    repo = pygit2.Repository(str(_cached(tmp_path)))
    assert first in repo
    assert shas[-1] in repo and shas[0] not in repo
    roots = (_cached(tmp_path) / "shallow").read_text().split()
    assert len(roots) <= COMMITS_KEPT + AUTO_PACK_LIMIT + 1  # those kept, and fetched since
