"""Every broken repository in the corpus leaves the cluster as it was, and says which file.

All cases run at once, one app each in one repository served by a real git
daemon and synced by a real controller (auto-sync, prune, self-heal): first a
good commit everyone syncs, then one commit that breaks every app in its own
way while changing ``cfg`` and deleting ``keep``. Each app must then carry a
ComparisonError naming its file, ``cfg`` must be unchanged (nothing applied)
and ``keep`` still there (nothing pruned), over several more passes.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from broken_repos import CASES, Case, broken_commit, good_files

from fixtures.tether import Apps, condition
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.runtime import Controller
from tether.engine.application import INSTANCE_LABEL

AUTO = {"prune": True, "selfHeal": True}


@pytest.fixture
async def destinations(kube: KubeClient) -> AsyncIterator[dict[str, str]]:
    """A fresh destination namespace per case (created by the app), removed afterwards."""
    suffix = secrets.token_hex(3)
    made = {case.name: f"h{suffix}-{case.name}"[:63] for case in CASES}
    yield made
    for ns in made.values():
        await kube.delete("v1", "Namespace", ns)


def _rooted(case: Case, files: dict[str, Any]) -> dict[str, Any]:
    return {f"apps/{case.name}/{rel}": data for rel, data in files.items()}


async def _app_configmaps(kube: KubeClient, ns: str, app: str) -> dict[str, dict[str, Any]]:
    api = await kube.resource_for("v1", "ConfigMap")
    items, _ = await kube.list(api, ns, label_selector=f"{INSTANCE_LABEL}={app}")
    return {o["metadata"]["name"]: o for o in items}


async def test_every_broken_repo_leaves_the_cluster_unchanged_and_names_the_file(
    git_repo: Any,
    apps: Apps,
    kube: KubeClient,
    controller: Controller,
    destinations: dict[str, str],
) -> None:
    good: dict[str, Any] = {}
    for case in CASES:
        good |= _rooted(case, good_files(case))
    git_repo.commit(good, message="good apps")
    names = {
        case.name: await apps.create(
            git_repo.git_url,
            path=f"apps/{case.name}",
            dest=destinations[case.name],
            automated=AUTO,
            name=f"h-{case.name}"[:50],
        )
        for case in CASES
    }
    for case in CASES:
        await apps.wait_synced(names[case.name])

    broken: dict[str, Any] = {}
    for case in CASES:
        broken |= _rooted(case, broken_commit(case))
    sha = git_repo.commit(broken, message="break every app")

    failures: list[str] = []
    for case in CASES:
        name = names[case.name]
        needles = list(case.needles)
        if case.names:
            needles.append(f"apps/{case.name}/{case.names}")

        async def refused(name: str = name, needles: list[str] = needles) -> bool:
            st = await apps.status(name)
            cond = condition(st, "ComparisonError")
            return cond is not None and all(n in cond["message"] for n in needles)

        try:
            await await_for(refused, timeout=120, what=f"{case.name}: ComparisonError")
        except AssertionError as exc:
            failures.append(f"{case.name}: no ComparisonError: {exc}")
            continue
        message = condition(await apps.status(name), "ComparisonError")["message"]  # type: ignore[index]
        missing = [n for n in needles if n not in message]
        if missing:
            failures.append(f"{case.name}: condition does not say {missing}: {message[:300]}")

    # Several passes later, still nothing applied and nothing pruned.
    passes = controller.metrics.reconciles
    await await_for(
        lambda: _at_least(controller, passes + 2 * len(CASES)), timeout=120, what="more passes"
    )
    for case in CASES:
        cms = await _app_configmaps(kube, destinations[case.name], names[case.name])
        if set(cms) != {"cfg", "keep"}:
            failures.append(f"{case.name}: the app's ConfigMaps are now {sorted(cms)}")
        elif cms["cfg"]["data"] != {"level": "info"}:
            failures.append(f"{case.name}: cfg was applied: {cms['cfg']['data']}")
        st = await apps.status(names[case.name])
        if [h["revision"] for h in st.get("history") or []][-1:] == [sha]:
            failures.append(f"{case.name}: the broken revision is in the history")
    assert not failures, "\n".join(failures)


async def _at_least(controller: Controller, count: int) -> bool:
    return controller.metrics.reconciles >= count
