"""Reading files at a commit straight from the object database.

No checkout: many applications render from the same repository at different
commits at once, and a work tree per app and commit would be slow and racy.
Symbolic links are followed inside the repository (a link is stored as a blob
whose content is the target) and any path or link that would leave the
repository is an error naming it, since a renderer must never read the host.

Links also multiply: ten links to a directory that holds ten links to the
next one expand a small repository into millions of files. So a read has a
budget (files, bytes, directory links followed) and stops with an error
naming the limit the moment it is spent, before reading a blob over it.

=====================  ==========  ==========================================
limit                  default     what it counts, per read of a tree
=====================  ==========  ==========================================
MAX_TREE_FILES         50,000      files returned (links to files included)
MAX_TREE_BYTES         256 MiB     their total size
MAX_LINK_EXPANSIONS    1,000       symbolic links to directories followed
=====================  ==========  ==========================================
"""

from __future__ import annotations

import bisect
import posixpath
from collections.abc import Iterable
from typing import Any

import pygit2

from tether.adapters.git.errors import GitError, PathNotFoundError

_LINK_MODE = 0o120000
_TREE_MODE = 0o040000
_COMMIT_MODE = 0o160000
_MAX_LINK_HOPS = 40
_MAX_DEPTH = 64
MAX_TREE_FILES = 50_000
MAX_TREE_BYTES = 256 * 1024 * 1024
MAX_LINK_EXPANSIONS = 1_000


class PathEscapeError(GitError):
    """A path or symbolic link points outside the repository."""


class TreeLimitError(GitError):
    """Reading a tree would exceed a limit on files, bytes or links followed."""


class _Budget:
    """What one read may still cost; TreeLimitError naming the limit once it is spent."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.files = 0
        self.bytes = 0
        self.links = 0

    def _fail(self, what: str, path: str) -> TreeLimitError:
        return TreeLimitError(f"{self.where}: reading the tree stopped at '{path}': {what}")

    def link(self, path: str) -> None:
        self.links += 1
        if self.links > MAX_LINK_EXPANSIONS:
            raise self._fail(
                f"more than {MAX_LINK_EXPANSIONS} symbolic links to directories followed "
                "(limit on link expansions)",
                path,
            )

    def blob(self, repo: pygit2.Repository, oid: Any, path: str) -> bytes:
        size = int(repo.odb.read_header(oid)[1])
        self.files += 1
        self.bytes += size
        if self.files > MAX_TREE_FILES:
            raise self._fail(f"more than {MAX_TREE_FILES} files (limit on files)", path)
        if self.bytes > MAX_TREE_BYTES:
            raise self._fail(f"more than {MAX_TREE_BYTES} bytes (limit on bytes)", path)
        blob = repo[oid]
        return bytes(blob.data) if isinstance(blob, pygit2.Blob) else b""


def normalise_repo_path(path: str) -> str:
    """``path`` relative to the repository root, or PathEscapeError naming it."""
    raw = (path or "").replace("\\", "/").strip()
    rel = posixpath.normpath(raw.lstrip("/")) if raw else "."
    if rel == ".." or rel.startswith("../"):
        raise PathEscapeError(f"path '{path}' escapes the repository")
    return "" if rel == "." else rel


def _join_link(link_path: str, target: str) -> str:
    if target.startswith("/"):
        raise PathEscapeError(
            f"symlink '{link_path}' -> '{target}' escapes the repository (absolute target)"
        )
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(link_path), target))
    if joined == ".." or joined.startswith("../"):
        raise PathEscapeError(f"symlink '{link_path}' -> '{target}' escapes the repository")
    return "" if joined == "." else joined


def _link_target(repo: pygit2.Repository, entry: Any) -> str:
    blob = repo[entry.id]
    if not isinstance(blob, pygit2.Blob):
        return ""
    return bytes(blob.data).decode("utf-8", errors="surrogateescape")


def resolve(repo: pygit2.Repository, root: pygit2.Tree, path: str) -> tuple[str, Any] | None:
    """Follow ``path`` from ``root`` through links; (canonical path, object) or None."""
    pending = [part for part in normalise_repo_path(path).split("/") if part]
    current: Any = root
    done: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if not isinstance(current, pygit2.Tree) or part not in current:
            return None
        entry = current[part]
        here = "/".join([*done, part])
        if entry.filemode == _LINK_MODE:
            hops += 1
            if hops > _MAX_LINK_HOPS:
                raise GitError(f"too many levels of symbolic links at '{here}'")
            target = _join_link(here, _link_target(repo, entry))
            pending = [p for p in target.split("/") if p] + pending
            current, done = root, []
            continue
        if entry.filemode == _COMMIT_MODE:
            return None
        current = repo[entry.id]
        done.append(part)
    return "/".join(done), current


def _walk(
    repo: pygit2.Repository,
    root: pygit2.Tree,
    tree: pygit2.Tree,
    prefix: str,
    canonical: str,
    out: dict[str, bytes],
    chain: tuple[str, ...],
    budget: _Budget,
) -> None:
    if len(chain) > _MAX_DEPTH:
        raise GitError(f"directory nesting too deep at '{canonical}'")
    for entry in tree:
        name = entry.name or ""
        rel = f"{prefix}/{name}" if prefix else name
        repo_path = f"{canonical}/{name}" if canonical else name
        if entry.filemode == _COMMIT_MODE:
            continue  # submodules are not part of this repository's content
        if entry.filemode == _LINK_MODE:
            target = _join_link(repo_path, _link_target(repo, entry))
            found = resolve(repo, root, target)
            if found is None:
                continue  # dangling link: nothing to read
            target_path, obj = found
            if isinstance(obj, pygit2.Tree):
                if target_path in chain:
                    continue  # a link back to an enclosing directory
                budget.link(rel)
                _walk(repo, root, obj, rel, target_path, out, (*chain, target_path), budget)
            elif isinstance(obj, pygit2.Blob):
                out[rel] = budget.blob(repo, obj.id, rel)
            continue
        if entry.filemode == _TREE_MODE:
            obj = repo[entry.id]
            if isinstance(obj, pygit2.Tree):
                _walk(repo, root, obj, rel, repo_path, out, (*chain, repo_path), budget)
        else:
            out[rel] = budget.blob(repo, entry.id, rel)


def read_files(
    repo: pygit2.Repository, commit: pygit2.Commit, path: str, where: str
) -> dict[str, bytes]:
    """Files under ``path`` at ``commit``, keyed by path relative to ``path``.

    A file path yields one entry keyed by its base name.
    """
    clean = normalise_repo_path(path)
    root = commit.tree
    found = resolve(repo, root, clean) if clean else ("", root)
    if found is None:
        raise PathNotFoundError(f"path '{clean}' not found at {str(commit.id)[:12]} in {where}")
    canonical, obj = found
    out: dict[str, bytes] = {}
    budget = _Budget(f"{where} at {str(commit.id)[:12]}")
    if isinstance(obj, pygit2.Blob):
        out[posixpath.basename(clean)] = budget.blob(repo, obj.id, clean)
    else:
        _walk(repo, root, obj, "", canonical, out, (canonical,), budget)
    return out


def exists(repo: pygit2.Repository, commit: pygit2.Commit, path: str) -> bool:
    clean = normalise_repo_path(path)
    return not clean or resolve(repo, commit.tree, clean) is not None


def diff_paths(repo: pygit2.Repository, old: pygit2.Commit, new: pygit2.Commit) -> ChangedPaths:
    """Paths added, removed, modified or renamed between two commits (both sides)."""
    diff = repo.diff(old, new)
    changed: set[str] = set()
    for delta in diff.deltas:
        if delta.old_file.path:
            changed.add(delta.old_file.path)
        if delta.new_file.path:
            changed.add(delta.new_file.path)
    return ChangedPaths(changed)


class ChangedPaths(frozenset[str]):
    """The paths a commit changed, sorted once: every app of the repository asks whether
    its path was touched, and a commit touching 10,000 apps changes 40,000 files, so
    each question is a search, not a scan."""

    _sorted: tuple[str, ...]

    def __new__(cls, paths: Iterable[str] = ()) -> ChangedPaths:
        self = super().__new__(cls, paths)
        self._sorted = tuple(sorted(self))
        return self

    def touches(self, app_path: str) -> bool:
        """Whether any changed path lies under ``app_path`` (or is a parent of it).

        Helps the controller skip re-rendering apps whose directory was not
        touched. It cannot see through kustomize bases or symlinks that point
        outside ``app_path``; callers add those dependencies to ``app_path``s.
        """
        base = normalise_repo_path(app_path)
        if not base:
            return bool(self)
        parts = base.split("/")
        if any("/".join(parts[:i]) in self for i in range(1, len(parts) + 1)):
            return True  # the path itself, or a parent replaced (a file where a folder was)
        prefix = base + "/"
        at = bisect.bisect_left(self._sorted, prefix)
        return at < len(self._sorted) and self._sorted[at].startswith(prefix)
