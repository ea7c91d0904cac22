"""Write image updates back to Git: fetch, edit, commit, push, and retry on a race.

Each repository gets a bare clone of its own under the writer's directory
(not the render cache: a push must never wait behind a render, nor a render
behind a push). A write is:

1. fetch the branch (and the push branch) in full;
2. read the YAML files under the policy's paths from the branch tip (regular
   files only, never through a symbolic link, at most 1 MiB each) and ask
   ``plan`` for the edits;
3. commit the edited blobs on top of the tip, with the given author and message
   (signed with an SSH or OpenPGP key when one is given, see ``signing``);
4. push without force. When the remote moved meanwhile (another automation,
   a person) the push is rejected; the writer fetches again and starts over
   from step 2 on the new tip, so both changes land and neither is lost.

A dry run stops after step 2 and returns the diff. The clones are the
controller's own disk: a full disk or a clone deleted under a running
controller is a GitError that says so (never "cannot fetch" the server), and
nothing is pushed unless every object of the commit was written; a deleted or
half-deleted clone is cloned again by the next write. Calls block (libgit2);
the controller runs them in a thread. A lock per repository keeps two writes
of one process from sharing an object database at once.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from tether.adapters.git.errors import GitError, RevisionNotFoundError, scrub
from tether.adapters.git.repo_cache import GitIdentity, cache_failure, writing_cache
from tether.adapters.git.signing import SigningKey
from tether.adapters.git.transport import TetherCallbacks
from tether.adapters.git.urls import cache_dir_name, cache_key, fetch_url, merge_url_credentials
from tether.engine.credentials import GitCredentials, strip_userinfo
from tether.engine.images.markers import FileEdit, is_yaml, unified_diff

MAX_FILE_BYTES = 1024 * 1024
MAX_FILES = 5_000
DEFAULT_ATTEMPTS = 5
CACHE = "write-back cache"
_REJECTED = (
    "fast-forward",
    "fastforward",
    "fetch first",
    "rejected",
    "stale info",
    "not present locally",
)

Plan = Callable[[Mapping[str, str]], list[FileEdit]]


@dataclass(frozen=True)
class WriteResult:
    """``sha`` of the pushed commit; None for a dry run or when nothing changed."""

    sha: str | None
    branch: str
    base: str
    edits: list[FileEdit] = field(default_factory=list)
    attempts: int = 1

    @property
    def diff(self) -> str:
        return unified_diff(self.edits)


class _Rejected(Exception):
    pass


class GitWriter:
    """Blocking and thread-safe; one instance per controller."""

    def __init__(self, workdir: str | Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def _lock(self, url: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(cache_key(url), threading.Lock())

    def _repo(self, url: str) -> pygit2.Repository:
        path = self.workdir / cache_dir_name(url)
        try:
            if (path / "HEAD").is_file() and (path / "objects" / "pack").is_dir():
                return pygit2.Repository(str(path))
            shutil.rmtree(path, ignore_errors=True)  # what a clean-up job left, if anything
            return pygit2.init_repository(str(path), bare=True)
        except (OSError, pygit2.GitError) as exc:
            raise _cache_error(url, exc, None) from None

    def write(
        self,
        url: str,
        *,
        branch: str,
        plan: Plan,
        message: str,
        author: GitIdentity,
        paths: list[str] | None = None,
        push_branch: str = "",
        credentials: GitCredentials | None = None,
        dry_run: bool = False,
        attempts: int = DEFAULT_ATTEMPTS,
        signing_key: SigningKey | str | None = None,
    ) -> WriteResult:
        """Commit ``plan``'s edits and push them; a ``signing_key`` string has no passphrase."""
        if isinstance(signing_key, str):
            signing_key = SigningKey(signing_key) if signing_key else None
        creds = merge_url_credentials(url, credentials)
        target = push_branch or branch
        with self._lock(url):
            for attempt in range(1, attempts + 1):
                repo = self._repo(url)
                self._fetch(repo, url, creds, branch, target)
                base = self._base(repo, url, branch, target)
                files = _yaml_files(repo, base.tree, paths or [""])
                edits = plan(files)
                if not edits or dry_run:
                    return WriteResult(None, target, str(base.id), edits, attempt)
                try:
                    sha = self._commit(repo, base, edits, message, author, signing_key)
                except (OSError, pygit2.GitError) as exc:
                    # Not pushed: a commit whose objects were not all written never leaves.
                    raise _cache_error(url, exc, creds) from None
                try:
                    self._push(repo, url, creds, sha, target)
                except _Rejected:
                    continue
                return WriteResult(sha, target, str(base.id), edits, attempt)
        raise GitError(
            f"push to {target} of {strip_userinfo(url)} was rejected {attempts} times "
            "(the branch keeps moving); will try again at the next scan"
        )

    # -- steps --------------------------------------------------------------
    def _fetch(
        self,
        repo: pygit2.Repository,
        url: str,
        creds: GitCredentials | None,
        branch: str,
        target: str,
    ) -> None:
        refspecs = [
            f"+refs/heads/{b}:refs/remotes/origin/{b}" for b in dict.fromkeys([branch, target])
        ]
        try:
            repo.remotes.create_anonymous(fetch_url(url)).fetch(
                refspecs, callbacks=TetherCallbacks(url, creds)
            )
        except GitError:
            raise
        except Exception as exc:
            if writing_cache(_scrubbed(exc, creds), self.workdir):
                raise _cache_error(url, exc, creds) from None
            raise GitError(f"cannot fetch {strip_userinfo(url)}: {_scrubbed(exc, creds)}") from None

    def _base(self, repo: pygit2.Repository, url: str, branch: str, target: str) -> pygit2.Commit:
        for name in dict.fromkeys([target, branch]):
            ref = f"refs/remotes/origin/{name}"
            if ref in repo.references:
                return repo.references[ref].peel(pygit2.Commit)
        raise RevisionNotFoundError(f"branch '{branch}' not found in {strip_userinfo(url)}")

    def _commit(
        self,
        repo: pygit2.Repository,
        base: pygit2.Commit,
        edits: list[FileEdit],
        message: str,
        author: GitIdentity,
        signing_key: SigningKey | None = None,
    ) -> str:
        index = pygit2.Index()
        index.read_tree(base.tree)
        for edit in edits:
            mode = index[edit.path].mode
            blob = repo.create_blob(edit.after.encode())
            index.add(pygit2.IndexEntry(edit.path, blob, mode))
        tree = index.write_tree(repo)
        signature = pygit2.Signature(author.name, author.email)
        text = message if message.endswith("\n") else message + "\n"
        if not signing_key:
            return str(repo.create_commit(None, signature, signature, text, tree, [base.id]))
        # pygit2 returns the raw commit text here (its stub says Oid)
        content = str(repo.create_commit_string(signature, signature, text, tree, [base.id]))
        signed = signing_key.sign(content.encode())
        return str(repo.create_commit_with_signature(content, signed, "gpgsig"))

    def _push(
        self,
        repo: pygit2.Repository,
        url: str,
        creds: GitCredentials | None,
        sha: str,
        target: str,
    ) -> None:
        local = f"refs/tether/writeback/{target}"
        try:
            repo.references.create(local, sha, force=True)
        except (OSError, pygit2.GitError) as exc:
            raise _cache_error(url, exc, creds) from None
        callbacks = TetherCallbacks(url, creds)
        try:
            repo.remotes.create_anonymous(fetch_url(url)).push(
                [f"{local}:refs/heads/{target}"], callbacks=callbacks
            )
        except GitError:
            raise
        except Exception as exc:
            text = str(exc).lower()
            if any(word in text for word in _REJECTED):
                raise _Rejected from None
            raise GitError(
                f"cannot push to {strip_userinfo(url)}: {_scrubbed(exc, creds)}"
            ) from None
        if callbacks.rejected:
            reasons = "; ".join(callbacks.rejected.values()).lower()
            if any(word in reasons for word in _REJECTED):
                raise _Rejected
            raise GitError(f"push to {strip_userinfo(url)} was rejected ({reasons})")


def _cache_error(url: str, exc: Exception, creds: GitCredentials | None) -> GitError:
    """The clone on the controller's disk failed (full, deleted, unwritable), not the server."""
    reason = cache_failure(_scrubbed(exc, creds), CACHE)
    return GitError(f"cannot write back to {strip_userinfo(url)}: {reason}")


def _scrubbed(exc: Exception, creds: GitCredentials | None) -> str:
    secrets = [creds.password, creds.ssh_private_key] if creds else []
    return scrub(str(exc), secrets)


def _yaml_files(repo: pygit2.Repository, root: pygit2.Tree, paths: list[str]) -> dict[str, str]:
    """Regular YAML files under ``paths`` (files or folders), decoded as UTF-8."""
    out: dict[str, str] = {}

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            path = f"{prefix}{entry.name}"
            if entry.filemode == pygit2.enums.FileMode.TREE:
                walk(repo[entry.id].peel(pygit2.Tree), path + "/")
            elif entry.filemode in (
                pygit2.enums.FileMode.BLOB,
                pygit2.enums.FileMode.BLOB_EXECUTABLE,
            ):
                add(path, repo[entry.id])

    def add(path: str, blob: Any) -> None:
        if not is_yaml(path) or blob.size > MAX_FILE_BYTES or len(out) >= MAX_FILES:
            return
        try:
            out[path] = blob.data.decode("utf-8")
        except UnicodeDecodeError:
            return

    for raw in paths:
        path = raw.strip("/")
        if not path:
            walk(root, "")
            continue
        try:
            entry = root[path]
        except KeyError:
            continue
        if entry.filemode == pygit2.enums.FileMode.TREE:
            walk(repo[entry.id].peel(pygit2.Tree), path + "/")
        elif entry.filemode in (pygit2.enums.FileMode.BLOB, pygit2.enums.FileMode.BLOB_EXECUTABLE):
            add(path, repo[entry.id])
    return out
