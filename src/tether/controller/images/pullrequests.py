"""The pull request that carries an image update pushed to its own branch.

After a write-back to ``pushBranch`` the image automation asks for the one
open pull request from that branch to ``branch``: opened the first time,
its title and description brought up to date after every later update. A
pull request that could not be opened (the host was down, the token wrong)
is tried again at the next scan even when no new commit is made: the
policy's status remembers which commit the pull request was last seen for,
so a scan that finds the branch tip newer than that tries again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tether.adapters.forge import pulls
from tether.adapters.git.writeback import WriteResult
from tether.controller.images.tags import ScanError
from tether.engine import forge
from tether.engine.images import pullrequest as model
from tether.engine.images import spec as specmodel

Secrets = Callable[[str, str], Awaitable[dict[str, str]]]
Ensure = Callable[[model.Target, str, str], Awaitable[pulls.Opened]]


async def _ensure(t: model.Target, title: str, body: str) -> pulls.Opened:
    return await pulls.ensure(t, title, body)


class PullRequests:
    """``secrets(namespace, name)`` reads a Secret of the policy's own namespace."""

    def __init__(self, secrets: Secrets, ensure: Ensure = _ensure) -> None:
        self.secrets = secrets
        self.ensure = ensure
        # Policies sharing a push branch take turns, so they do not both open one.
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    @staticmethod
    def due(wb: specmodel.WriteBack, result: WriteResult, old_status: Mapping[str, Any]) -> bool:
        """A new commit, or the last pushed commit still without its pull request."""
        if wb.pull_request is None or wb.dry_run:
            return False
        if result.sha is not None:
            return True
        last = old_status.get("lastCommit") or {}
        seen = (old_status.get("pullRequest") or {}).get("head")
        return last.get("branch") == wb.push_branch and last.get("sha") == result.base != seen

    async def sync(
        self,
        wb: specmodel.WriteBack,
        namespace: str,
        policy: str,
        result: WriteResult,
        message: str,
    ) -> tuple[dict[str, Any], bool]:
        """The ``status.pullRequest`` to record and whether it was just opened; raises ScanError."""
        config = wb.pull_request
        assert config is not None
        ref = config.provider.token_ref
        token = (await self.secrets(namespace, ref.secret_name)).get(ref.key, "")
        if not token:
            raise ScanError(
                "BadSecret", f"Secret {namespace}/{ref.secret_name} has no key {ref.key}"
            )
        try:
            t = model.target(config, wb.repo_url, wb.push_branch, wb.branch, token)
        except forge.ForgeError as exc:
            raise ScanError("PullRequestFailed", f"pull request: {exc}") from None
        title, body = model.text(message, namespace, policy, wb.push_branch)
        lock = self._locks.setdefault((t.pulls_url, t.head, t.base), asyncio.Lock())
        try:
            async with lock:
                opened = await self.ensure(t, title, body)
        except pulls.ForgeApiError as exc:
            raise ScanError("PullRequestFailed", str(exc)) from None
        head = result.sha or result.base
        return {
            "number": opened.number,
            "url": opened.url,
            "head": head,
            "branch": wb.push_branch,
        }, opened.created
