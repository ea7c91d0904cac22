"""What one consolidated pack keeps: what refs and recent reads reach."""

from __future__ import annotations

import shutil
from pathlib import Path

import pygit2

from tether.adapters.git.packs import consolidate_packs

_WHO = pygit2.Signature("t", "t@example.com", 1700000000, 0)


def _commit(repo: pygit2.Repository, text: str, parents: list[pygit2.Oid]) -> pygit2.Oid:
    blob = repo.create_blob(text.encode())
    builder = repo.TreeBuilder()
    builder.insert("file.yaml", blob, pygit2.GIT_FILEMODE_BLOB)
    return repo.create_commit(None, _WHO, _WHO, text, builder.write(), parents)


def _packed(path: Path) -> None:
    """Everything in one pack and no loose objects, as the fetched cache holds them."""
    repo = pygit2.Repository(str(path))
    repo.pack(str(path / "objects" / "pack"))
    repo.free()
    for loose in (path / "objects").glob("[0-9a-f][0-9a-f]"):
        shutil.rmtree(loose)


def test_history_behind_a_ref_is_kept_unless_cut_by_a_shallow_root(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    c1 = _commit(repo, "one", [])
    c2 = _commit(repo, "two", [c1])
    c3 = _commit(repo, "three", [c2])
    stray = _commit(repo, "stray", [])
    repo.references.create("refs/heads/main", c3)
    path = Path(repo.path)
    (path / "shallow").write_text(f"{c2}\n{stray}\n")
    _packed(path)

    assert consolidate_packs(path, limit=0)

    after = pygit2.Repository(str(path))
    assert c3 in after and c2 in after
    assert c1 not in after and stray not in after
    assert (path / "shallow").read_text() == f"{c2}\n"


def test_annotated_tags_and_commits_asked_for_are_kept(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    first = _commit(repo, "first", [])
    tagged = _commit(repo, "tagged", [first])
    read_lately = _commit(repo, "read lately", [])
    stray = _commit(repo, "stray", [])
    tag = repo.create_tag("v1", tagged, pygit2.GIT_OBJECT_COMMIT, _WHO, "release")
    path = Path(repo.path)
    _packed(path)

    assert consolidate_packs(path, keep=[str(read_lately), "not-a-sha", "0" * 40], limit=0)

    after = pygit2.Repository(str(path))
    assert tag in after and tagged in after and read_lately in after
    assert first in after  # a whole repository keeps the history behind its refs
    assert after[read_lately].tree["file.yaml"].id in after
    assert stray not in after
    assert not (path / "shallow").exists()
