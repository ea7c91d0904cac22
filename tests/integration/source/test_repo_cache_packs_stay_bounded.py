"""A repository fetched after every commit keeps few packs and few open files.

Found by the soak: libgit2 writes a pack per fetch, and each repository handle
dropped after a fetch kept its packs open until the garbage collector found it,
so the controller gained one open file per commit (24 to 41 in two minutes of
a commit every 5 s) and would have run out of file descriptors within hours.
"""

from __future__ import annotations

import os
from pathlib import Path

from tether.adapters.git import RepoCache
from tether.adapters.git.repo_cache import AUTO_PACK_LIMIT, consolidate_packs


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


def test_consolidated_packs_still_hold_every_commit(git_repo, tmp_path) -> None:
    cache = RepoCache(tmp_path / "cache")
    url = git_repo.git_url
    shas = []
    for n in range(8):
        shas.append(git_repo.commit({f"f{n}.yaml": f"n: {n}\n"}))
        cache.resolve(url, "main")
    path = next(p.parents[2] for p in (tmp_path / "cache").rglob("pack-*.pack"))
    assert consolidate_packs(Path(path), limit=3)
    assert len(list(Path(path).rglob("pack-*.pack"))) == 1
    again = RepoCache(tmp_path / "cache")
    for n, sha in enumerate(shas):
        assert again.read_tree(url, sha, "")[f"f{n}.yaml"] == f"n: {n}\n".encode()
    assert not consolidate_packs(Path(path), limit=3)
