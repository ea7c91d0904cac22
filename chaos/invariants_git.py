"""While the Git server is slow or answers garbage, every app says so in its conditions.

An app whose fetch fails keeps its last synced state (the common invariants
judge that: no prune of what Git holds, content at the last head); what is
added here is that the failure is visible where a user looks, the app's
ComparisonError, naming the repository that failed, not only the log.
"""

from __future__ import annotations

import time

from bench.harness import APPS_PATH, Env

from chaos.load import app_name

WORDS = ("cannot reach", "cannot fetch", "timed out", "timeout")
# Once the failure is known every app picks it up on its next pass, but saying so is a
# status write and an Event per app: about 0.6 s each at load 20 with 8 workers, so 150
# apps took 28 s. The wait allows this much per app on top of the caller's seconds.
PER_APP = 0.25


def unexplained(env: Env, n: int, repo: str) -> list[str]:
    """Apps with no ComparisonError naming ``repo`` (host:port) or a Git failure."""
    apps = {a["metadata"]["name"]: a for a in env.api.get(APPS_PATH).json()["items"]}
    out = []
    for i in range(n):
        name = app_name(i)
        conds = ((apps.get(name) or {}).get("status") or {}).get("conditions") or []
        msgs = [str(c.get("message", "")) for c in conds if c.get("type") == "ComparisonError"]
        if not any(repo in m or any(w in m.lower() for w in WORDS) for m in msgs):
            out.append(f"{name}: no ComparisonError names the Git failure ({msgs[:1] or 'none'})")
    return out


def explained_within(
    env: Env, n: int, repo: str, seconds: float, per_app: float = PER_APP
) -> list[str]:
    """Poll until every app names the failure, for at most ``seconds`` + ``per_app``
    for each of the ``n`` apps (their status writes); what is left."""
    give_up = time.monotonic() + seconds + per_app * n
    found = unexplained(env, n, repo)
    while found and time.monotonic() < give_up:
        time.sleep(0.5)
        found = unexplained(env, n, repo)
    return found
