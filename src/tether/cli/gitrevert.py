"""``rollback --git``: push a revert commit so Git stays the source of truth."""

from __future__ import annotations

import asyncio
import getpass

from tether.adapters import git
from tether.controller.service import ActionRefused, AppService
from tether.engine.application import parse_spec


async def revert_to(svc: AppService, name: str, history_id: int, user: str) -> str:
    """Push a commit reverting the deployed commit (the usual case: undo the last change)."""
    app = await svc.get_app(name)
    spec = parse_spec(app["spec"])
    history = (app.get("status") or {}).get("history") or []
    entry = next((h for h in history if int(h["id"]) == history_id), None)
    if entry is None or not history:
        raise ActionRefused(f"history entry {history_id} not found")
    current = history[-1]["revision"]
    if current == entry["revision"]:
        raise ActionRefused(f"history {history_id} is what is deployed now")
    branch = spec.source.target_revision
    if branch in ("HEAD", ""):
        branch = "main"
    creds = await svc.reconciler.repo_secrets.credentials(spec.source.repo_url, spec.project)
    repos = svc.reconciler.sources.repos
    author = git.GitIdentity(name=f"{getpass.getuser()} via tether", email="tether@localhost")
    return await asyncio.to_thread(
        repos.revert, spec.source.repo_url, current, author, branch, creds
    )
