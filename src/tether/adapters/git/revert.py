"""Revert commits for ``rollback --git``: undo a change in Git, not only in the cluster.

A rollback that only touches the cluster is undone by the next sync; writing
the inverse commit to the tracked branch makes Git agree with the cluster
again. The revert is computed in memory on the bare cache repository (no
work tree) and pushed; a branch that moved meanwhile makes the push fail
rather than overwrite someone else's commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pygit2

from tether.adapters.git.errors import GitError, RevisionNotFoundError, scrub
from tether.adapters.git.transport import TetherCallbacks
from tether.engine.credentials import GitCredentials, strip_userinfo


def revert_and_push(
    repo: pygit2.Repository,
    make_remote: Callable[[pygit2.Repository, str], Any],
    url: str,
    target: pygit2.Commit,
    author: Any,
    branch: str,
    credentials: GitCredentials | None,
) -> str:
    where = strip_userinfo(url)
    ref_name = f"refs/heads/{branch}"
    if ref_name not in repo.references:
        raise RevisionNotFoundError(f"branch '{branch}' not found in {where}")
    tip = repo.references[ref_name].peel(pygit2.Commit)
    if not target.parents:
        raise GitError(f"cannot revert {str(target.id)[:12]}: it is the first commit of {where}")
    mainline = 1 if len(target.parents) > 1 else 0
    index = repo.revert_commit(target, tip, mainline)
    if index.conflicts is not None:
        paths = sorted({(c[1] or c[2] or c[0]).path for c in index.conflicts if any(c)})
        raise GitError(
            f"cannot revert {str(target.id)[:12]} on {branch} in {where}: "
            f"conflicts in {', '.join(paths)}"
        )
    tree_id = index.write_tree(repo)
    signature = pygit2.Signature(author.name, author.email)
    subject = target.message.splitlines()[0] if target.message else str(target.id)
    message = f'Revert "{subject}"\n\nThis reverts commit {target.id}.\n'
    new_id = repo.create_commit(None, signature, signature, message, tree_id, [tip.id])
    repo.references.create(ref_name, new_id, force=True)
    callbacks = TetherCallbacks(url, credentials)
    try:
        make_remote(repo, url).push([f"{ref_name}:{ref_name}"], callbacks=callbacks)
    except Exception as exc:
        repo.references.create(ref_name, tip.id, force=True)
        if isinstance(exc, GitError):
            raise
        secrets = [credentials.password, credentials.ssh_private_key] if credentials else []
        raise GitError(f"cannot push to {where}: {scrub(str(exc), secrets)}") from None
    if callbacks.rejected:
        repo.references.create(ref_name, tip.id, force=True)
        reasons = "; ".join(f"{ref}: {why}" for ref, why in callbacks.rejected.items())
        raise GitError(f"push to {where} was rejected ({reasons})")
    return str(new_id)
