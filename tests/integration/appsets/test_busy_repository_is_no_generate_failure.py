"""An ApplicationSet whose repository has a Git call running long (a slow or hanging
server) tries again on its next pass, and says nothing it does not know: before, it
reported GenerateFailed "busy" for as long as the other call ran."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from appsets_helpers import Sets, condition, configmap
from test_git_directories import folders_set

from tether.controller.runtime import Controller
from tether.controller.sources.gate import PATIENCE


async def test_a_set_waits_out_a_busy_repository_without_a_failure(
    git_repo: Any, sets: Sets, controller: Controller
) -> None:
    git_repo.commit({"apps/alpha/cm.yaml": configmap("alpha")})
    name = await sets.create(sets.name("busy"), folders_set(sets, git_repo.git_url, "busy", {}))
    await sets.wait_apps(name, {f"{sets.prefix}-busy-alpha"})
    said: list[str] = []
    # Another call holds the repository (as a listing hanging on a silent server would).
    async with controller.sources.pools.gates.turn(git_repo.git_url):
        git_repo.commit({"apps/beta/cm.yaml": configmap("beta")}, message="add beta")
        controller.sources.announce_push(git_repo.git_url)  # the next pass must list
        held = time.monotonic()
        passes = controller.appsets.passes
        while time.monotonic() - held < PATIENCE + 6:
            st = (await sets.get(name)).get("status") or {}
            said.append(condition(st, "ErrorOccurred").get("reason", ""))
            await asyncio.sleep(0.5)
        assert controller.appsets.passes > passes, "no pass ran while the repository was held"
    assert "GenerateFailed" not in said, said
    await sets.wait_apps(name, {f"{sets.prefix}-busy-alpha", f"{sets.prefix}-busy-beta"})
