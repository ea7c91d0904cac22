"""A shared cache of bare repositories, one per normalised repository URL.

Every application that points at a repository shares one bare clone, so one
fetch serves them all. Calls block (libgit2 does network and disk I/O in C):
the controller runs them in threads, and a lock per repository keeps two
threads from fetching into the same object database at once.

Fetches are shallow (depth 1) where the transport allows, since rendering only
needs the tree at one commit; operations that need history (revert) unshallow.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from tether.adapters.git import timeouts, tree
from tether.adapters.git.errors import (
    GitError,
    RevisionNotFoundError,
    describe_transport_failure,
    scrub,
)
from tether.adapters.git.packs import consolidate_packs
from tether.adapters.git.transport import TetherCallbacks
from tether.adapters.git.urls import cache_dir_name, cache_key, fetch_url, merge_url_credentials
from tether.engine.credentials import GitCredentials, strip_userinfo

_HEX = re.compile(r"^[0-9a-fA-F]{4,40}$")
_UNSHALLOW = 2147483647  # GIT_FETCH_DEPTH_UNSHALLOW
_ALL_REFS = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
_OS_REASON = re.compile(r":\s*([A-Z][A-Za-z ]+)\s*$")  # libgit2 ends with strerror
DIFFS_KEPT = 16  # changed paths of the last commit pairs asked about
COMMITS_KEPT = 64  # commits read lately, kept when packs are consolidated


@dataclass(frozen=True)
class GitIdentity:
    """Author and committer of commits Tether writes (rollback --git)."""

    name: str
    email: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    message: str
    author_name: str
    author_email: str
    time: int  # seconds since the epoch, committer time


def _usable(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects" / "pack").is_dir()


def writing_cache(detail: str, cache_dir: Path) -> bool:
    """Whether libgit2 failed writing the local cache rather than talking to the server."""
    places = {str(cache_dir.absolute()), str(cache_dir.resolve())}
    return any(p in detail for p in places) or "no space left" in detail.lower()


def cache_failure(detail: str, cache: str = "repository cache") -> str:
    """A local failure of the controller's ``cache`` in words, without its paths."""
    lowered = detail.lower()
    if "no space left" in lowered or "disk quota" in lowered:
        return f"the controller's {cache} is out of disk space (No space left on device)"
    reason = _OS_REASON.search(detail)
    why = reason.group(1) if reason else "cannot write"
    return f"cannot write the controller's {cache} ({why})"


class RepoCache:
    """Bare repositories under ``cache_dir``; all methods are blocking and thread-safe."""

    def __init__(
        self,
        cache_dir: str | Path,
        *,
        connect_timeout: float | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        """``connect_timeout``/``idle_timeout`` (seconds) bound every network operation.

        libgit2 holds them process-wide: the last RepoCache made sets them for all.
        """
        timeouts.apply(connect_timeout, idle_timeout)
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._guard = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}
        self._heads: dict[str, tuple[float, dict[str, str]]] = {}
        self._repos: dict[str, pygit2.Repository] = {}
        self._diffs: dict[tuple[str, str, str], tree.ChangedPaths] = {}
        self._read: dict[str, dict[str, None]] = {}  # per repository, oldest first

    # -- plumbing -----------------------------------------------------------

    def lock(self, url: str) -> threading.RLock:
        """The lock that serialises every operation on ``url``'s repository."""
        key = cache_key(url)
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())

    def _repo(self, url: str) -> pygit2.Repository:
        """The open repository for ``url`` (opened once; callers hold its lock)."""
        key = cache_key(url)
        path = self.cache_dir / cache_dir_name(url)
        repo = self._repos.get(key)
        if repo is not None and not _usable(path):
            # The cache was deleted under a running controller (a clean-up job, an
            # operator): the open repository would fail every fetch from now on, so
            # start again from an empty one, as after a restart.
            repo = None
            self._heads.pop(key, None)
        if repo is None:
            try:
                if _usable(path):
                    repo = pygit2.Repository(str(path))
                else:
                    shutil.rmtree(path, ignore_errors=True)  # what a deletion left, if any
                    path.parent.mkdir(parents=True, exist_ok=True)
                    repo = pygit2.init_repository(str(path), bare=True)
            except (OSError, pygit2.GitError) as exc:
                raise GitError(
                    f"cannot fetch {strip_userinfo(url)}: {cache_failure(str(exc))}"
                ) from None
            self._repos[key] = repo
        return repo

    def forget_heads(self, url: str) -> None:
        """Make the next resolve of ``url`` list the remote again (a push was announced)."""
        self._heads.pop(cache_key(url), None)

    def _remote(self, repo: pygit2.Repository, url: str) -> Any:
        return repo.remotes.create_anonymous(fetch_url(url))

    def _fail(
        self, url: str, exc: Exception, creds: GitCredentials | None, started: float
    ) -> GitError:
        if isinstance(exc, GitError):
            return exc
        secrets = [creds.password, creds.ssh_private_key] if creds else []
        detail = scrub(str(exc), secrets)
        if writing_cache(detail, self.cache_dir):
            # Not the server's fault: a full disk or a vanished cache must not read
            # as "cannot reach", or the owner of the repository is sent to look at Git.
            return GitError(f"cannot fetch {strip_userinfo(url)}: {cache_failure(detail)}")
        idle = timeouts.idle_timeout()
        if "could not read refs" in detail.lower() and time.monotonic() - started >= idle * 0.95:
            detail = "timed out"  # libgit2's wording when the first read hits the timeout
        reason = describe_transport_failure(detail)
        return GitError(f"cannot reach {strip_userinfo(url)}: {reason}")

    def _list_heads(self, url: str, creds: GitCredentials | None) -> dict[str, str]:
        """Advertised refs -> commit sha (tags peeled), as ``git ls-remote``."""
        creds = merge_url_credentials(url, creds)
        repo = self._repo(url)
        callbacks = TetherCallbacks(url, creds)
        started = time.monotonic()
        try:
            heads = self._remote(repo, url).list_heads(callbacks=callbacks)
        except Exception as exc:
            raise self._fail(url, exc, creds, started) from None
        out: dict[str, str] = {}
        for head in heads:
            name, oid = head.name, str(head.oid)
            if not name:
                continue
            if name.endswith("^{}"):
                out[name[:-3]] = oid  # the peeled commit of an annotated tag wins
            else:
                out.setdefault(name, oid)
            if head.symref_target and name == "HEAD":
                out["HEAD->"] = head.symref_target
        # Aged from the start: the remote may have moved while it answered.
        self._heads[cache_key(url)] = (started, out)
        return out

    def _fetch_refspecs(
        self, url: str, refspecs: list[str], creds: GitCredentials | None, depth: int
    ) -> None:
        creds = merge_url_credentials(url, creds)
        repo = self._repo(url)
        if depth == 0 and repo.is_shallow:
            depth = _UNSHALLOW
        attempts = [depth, 0] if depth not in (0, _UNSHALLOW) else [depth]
        last: Exception | None = None
        for attempt_depth in attempts:
            started = time.monotonic()
            try:
                self._remote(repo, url).fetch(
                    refspecs, callbacks=TetherCallbacks(url, creds), depth=attempt_depth
                )
                # libgit2 reads the shallow boundary when a repository is opened:
                # reopen after a fetch so deepened history is seen.
                # Freed now, not when the garbage collector finds it: it holds every pack
                # open, and those consolidate_packs deletes would stay open with it.
                opened = self._repos.pop(cache_key(url), None)
                if opened is not None:
                    opened.free()
                consolidate_packs(
                    self.cache_dir / cache_dir_name(url), keep=self._read.get(cache_key(url), ())
                )
                return
            except GitError:
                raise
            except Exception as exc:  # shallow unsupported by the transport: full fetch
                last = exc
                if "shallow" not in str(exc).lower():
                    break
        assert last is not None
        raise self._fail(url, last, creds, started) from None

    def _commit(self, repo: pygit2.Repository, sha: str) -> pygit2.Commit | None:
        try:
            obj = repo.revparse_single(sha) if len(sha) < 40 else repo.get(sha)
            return obj.peel(pygit2.Commit) if obj is not None else None
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            return None

    def _ensure_commit(
        self, url: str, sha: str, creds: GitCredentials | None, depth: int = 1
    ) -> pygit2.Commit:
        repo = self._repo(url)
        commit = self._commit(repo, sha)
        if commit is not None and not (depth == 0 and repo.is_shallow):
            self._remember(url, str(commit.id))
            return commit
        if _HEX.match(sha) and len(sha) == 40:
            # the server may refuse wants by id: then fall back to all refs
            with contextlib.suppress(GitError):
                self._fetch_refspecs(url, [f"+{sha}:refs/tether/{sha}"], creds, depth)
            commit = self._commit(self._repo(url), sha)
        if commit is None or (depth == 0 and self._repo(url).is_shallow):
            self._fetch_refspecs(url, _ALL_REFS, creds, 0)
            commit = self._commit(self._repo(url), sha)
        if commit is None:
            raise RevisionNotFoundError(f"revision '{sha}' not found in {strip_userinfo(url)}")
        self._remember(url, str(commit.id))
        return commit

    def _remember(self, url: str, sha: str) -> None:
        read = self._read.setdefault(cache_key(url), {})
        read.pop(sha, None)
        read[sha] = None
        while len(read) > COMMITS_KEPT:
            read.pop(next(iter(read)))

    # -- public API ---------------------------------------------------------

    def fetch(
        self,
        url: str,
        credentials: GitCredentials | None = None,
        revision: str | None = None,
        depth: int = 1,
    ) -> None:
        """Fetch ``revision`` (branch, tag or sha; all branches and tags when None)."""
        with self.lock(url):
            if revision is None:
                self._fetch_refspecs(url, _ALL_REFS, credentials, depth)
            else:
                self._resolve_locked(url, revision, credentials, max_age=0.0, depth=depth)

    def resolve(
        self,
        url: str,
        revision: str,
        credentials: GitCredentials | None = None,
        max_age: float = 0.0,
    ) -> str:
        """The commit sha that ``revision`` names now, fetched into the cache.

        ``revision`` is a branch, tag, full ref, ``HEAD``/empty or a (short)
        sha. Remote refs listed less than ``max_age`` seconds ago are reused,
        so many apps on one repository cost one ``ls-remote`` per poll.
        """
        with self.lock(url):
            return self._resolve_locked(url, revision, credentials, max_age, depth=1)

    def _resolve_locked(
        self,
        url: str,
        revision: str,
        creds: GitCredentials | None,
        max_age: float,
        depth: int,
    ) -> str:
        revision = (revision or "HEAD").strip()
        repo = self._repo(url)
        if _HEX.match(revision) and len(revision) == 40:
            return str(self._ensure_commit(url, revision.lower(), creds, depth).id)
        cached = self._heads.get(cache_key(url))
        if cached and time.monotonic() - cached[0] <= max_age:
            heads = cached[1]
        else:
            heads = self._list_heads(url, creds)
        for ref in (revision, f"refs/heads/{revision}", f"refs/tags/{revision}"):
            if ref in heads and ref != "HEAD->":
                sha = heads[ref]
                if self._commit(repo, sha) is None:
                    local = ref if ref.startswith("refs/") else "refs/tether/HEAD"
                    self._fetch_refspecs(url, [f"+{ref}:{local}"], creds, depth)
                return str(self._ensure_commit(url, sha, creds, depth).id)
        if _HEX.match(revision):
            return str(self._ensure_commit(url, revision.lower(), creds, depth).id)
        raise RevisionNotFoundError(f"revision '{revision}' not found in {strip_userinfo(url)}")

    def read_tree(
        self, url: str, sha: str, path: str = "", credentials: GitCredentials | None = None
    ) -> dict[str, bytes]:
        """Files under ``path`` at commit ``sha``, keyed relative to ``path``."""
        with self.lock(url):
            commit = self._ensure_commit(url, sha, credentials)
            return tree.read_files(self._repo(url), commit, path, strip_userinfo(url))

    def path_exists(
        self, url: str, sha: str, path: str, credentials: GitCredentials | None = None
    ) -> bool:
        with self.lock(url):
            return tree.exists(self._repo(url), self._ensure_commit(url, sha, credentials), path)

    def changed_paths(
        self, url: str, old_sha: str, new_sha: str, credentials: GitCredentials | None = None
    ) -> tree.ChangedPaths:
        """Repository paths that differ between two commits (old and new names)."""
        with self.lock(url):
            key = (cache_key(url), old_sha, new_sha)
            known = self._diffs.get(key)
            if known is not None:
                return known
            old = self._ensure_commit(url, old_sha, credentials)
            new = self._ensure_commit(url, new_sha, credentials)
            changed = tree.diff_paths(self._repo(url), old, new)
            with self._guard:  # every app of the repository asks the same of one push
                self._diffs[key] = changed
                while len(self._diffs) > DIFFS_KEPT:
                    self._diffs.pop(next(iter(self._diffs)))
            return changed

    def commit_message(self, url: str, sha: str, credentials: GitCredentials | None = None) -> str:
        return self.commit_info(url, sha, credentials).message

    def commit_info(
        self, url: str, sha: str, credentials: GitCredentials | None = None
    ) -> CommitInfo:
        with self.lock(url):
            commit = self._ensure_commit(url, sha, credentials)
            return CommitInfo(
                sha=str(commit.id),
                message=commit.message,
                author_name=commit.author.name,
                author_email=commit.author.email,
                time=commit.commit_time,
            )

    def revert(
        self,
        url: str,
        sha: str,
        author: GitIdentity,
        branch: str,
        credentials: GitCredentials | None = None,
    ) -> str:
        """Commit the inverse of ``sha`` on top of ``branch`` and push it; the new sha."""
        from tether.adapters.git.revert import revert_and_push

        with self.lock(url):
            self._fetch_refspecs(url, [f"+refs/heads/{branch}:refs/heads/{branch}"], credentials, 0)
            target = self._ensure_commit(url, sha, credentials, depth=0)
            return revert_and_push(
                self._repo(url),
                self._remote,
                url,
                target,
                author,
                branch,
                merge_url_credentials(url, credentials),
            )
