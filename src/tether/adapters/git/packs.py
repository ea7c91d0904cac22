"""Keeping a cached repository's object database bounded: fewer packs, fewer objects.

libgit2 writes a pack per fetch and an open repository keeps every pack open
(a file descriptor and its mappings each), so a repository fetched every few
seconds ran the controller out of file descriptors within hours. Past
``AUTO_PACK_LIMIT`` packs (git's ``gc.autoPackLimit``) they are written again
as one, as ``git gc --auto`` does.

The one pack holds what the refs reach and the commits the controller read
recently, not every object ever fetched: fetches are shallow, so each one adds
a commit and the trees and files it changed, and a pack of everything grew
with every commit, in size on disk and in the memory writing it took (2,661 to
5,269 objects, 0.9 s to 2.3 s a consolidation over 250 commits). The shallow
file, which libgit2 sends to the server line by line on every fetch, is cut to
the commits kept for the same reason. A commit dropped here is fetched again
by id if someone asks for it, as after a restart with an empty cache.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

import pygit2

AUTO_PACK_LIMIT = 50  # git gc's gc.autoPackLimit


def _shallow_roots(path: Path) -> set[str]:
    try:
        return set((path / "shallow").read_text().split())
    except FileNotFoundError:
        return set()


def _commit_of(repo: pygit2.Repository, oid: pygit2.Oid, builder: pygit2.PackBuilder) -> str | None:
    """The commit ``oid`` names, adding the annotated tags peeled on the way."""
    obj = repo.get(oid)
    while isinstance(obj, pygit2.Tag):
        builder.add(obj.id)
        obj = repo.get(obj.target)
    return str(obj.id) if isinstance(obj, pygit2.Commit) else None


def _add_reachable(
    repo: pygit2.Repository, starts: Iterable[str], shallow: set[str], builder: pygit2.PackBuilder
) -> set[str]:
    """Add every commit (with its tree) reachable from ``starts``; the commits added.

    The walk stops at shallow roots, whose parents the repository does not
    hold, and goes on through every other commit's parents: the server is told
    the repository has the history behind the commits it keeps.
    """
    seen: set[str] = set()
    added: set[pygit2.Oid] = set()
    todo: list[str] = []
    for start in starts:
        with contextlib.suppress(KeyError, ValueError, pygit2.GitError):
            sha = _commit_of(repo, pygit2.Oid(hex=start), builder)
            if sha is not None:
                todo.append(sha)
    while todo:
        sha = todo.pop()
        if sha in seen:
            continue
        seen.add(sha)
        commit = repo.get(sha)
        if not isinstance(commit, pygit2.Commit):
            continue
        builder.add(commit.id)
        _add_tree(repo, commit.tree_id, builder, added)
        if sha not in shallow:
            todo.extend(str(p) for p in commit.parent_ids if str(p) in repo)
    return seen


def _add_tree(
    repo: pygit2.Repository, oid: pygit2.Oid, builder: pygit2.PackBuilder, added: set[pygit2.Oid]
) -> None:
    """Add a tree and what it holds, skipping subtrees already added.

    libgit2's own recursive add walks every tree of every commit whole; commits
    next to each other share nearly all their subtrees, so this walks each once.
    """
    todo = [oid]
    while todo:
        tree_id = todo.pop()
        if tree_id in added:
            continue
        added.add(tree_id)
        builder.add(tree_id)
        tree = repo.get(tree_id)
        if not isinstance(tree, pygit2.Tree):
            continue
        for entry in tree:
            if entry.type_str == "tree":
                todo.append(entry.id)
            elif entry.type_str == "blob" and entry.id not in added:
                added.add(entry.id)
                builder.add(entry.id)


def _ref_targets(repo: pygit2.Repository) -> list[str]:
    targets = []
    for name in repo.references:
        with contextlib.suppress(KeyError, ValueError, pygit2.GitError):
            ref = repo.references[name].resolve()
            if ref.target is not None:
                targets.append(str(ref.target))
    return targets


def _write_shallow(path: Path, roots: list[str]) -> None:
    """Replace the shallow file whole: libgit2 reads it on open and trusts each line."""
    staged = path / "shallow.tether-tmp"
    staged.write_text("".join(f"{sha}\n" for sha in sorted(roots)))
    os.replace(staged, path / "shallow")


def consolidate_packs(path: Path, keep: Iterable[str] = (), limit: int = AUTO_PACK_LIMIT) -> bool:
    """Past ``limit`` packs, write one pack of what the refs and ``keep`` reach.

    ``keep`` names commits read lately, so apps still on an older commit than
    the refs' do not fetch it again. A failure leaves the packs as they were,
    to be tried again after the next fetch. True when it repacked.
    """
    pack_dir = path / "objects" / "pack"
    old = set(pack_dir.glob("pack-*.pack"))
    if len(old) <= limit:
        return False
    shallow = _shallow_roots(path)
    kept: set[str] = set()
    try:
        repo = pygit2.Repository(str(path))
        try:

            def add(builder: pygit2.PackBuilder) -> None:
                kept.update(_add_reachable(repo, [*_ref_targets(repo), *keep], shallow, builder))

            repo.pack(str(pack_dir), pack_delegate=add)
        finally:
            repo.free()
    except (OSError, pygit2.GitError):
        return False
    if not set(pack_dir.glob("pack-*.pack")) - old:
        return False  # the new pack has an old one's name: keep everything
    for pack in old:
        for part in (pack, pack.with_suffix(".idx"), pack.with_suffix(".rev")):
            part.unlink(missing_ok=True)
    if shallow:  # after the packs: a root listed but gone is harmless, a root unlisted is not
        with contextlib.suppress(OSError):
            _write_shallow(path, [sha for sha in shallow if sha in kept])
    return True
