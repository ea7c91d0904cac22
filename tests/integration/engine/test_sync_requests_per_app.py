"""A sync asks the API server only what it does not know yet.

Counted with the controller's own request tally (``tether_kube_requests_total``):
objects in a namespace that does not exist yet are dry-run once, after the sync
creates the namespace, and not read before they are created; and objects a new
commit leaves as they are (the dry run of that content against the live object
is the live object) are not applied again.
"""

from __future__ import annotations

from typing import Any

from fixtures.tether import Apps, example_files
from tether.controller.runtime import Controller

DEPLOYMENT = "apps/deployments"
UNCHANGED = ("configmaps", "services")
KINDS = (DEPLOYMENT, *UNCHANGED)


def _sent(controller: Controller, verb: str, resource: str, *, dry_run: bool = False) -> int:
    return controller.kube.requests.snapshot().get((verb, resource, dry_run), 0)


async def test_new_objects_are_not_read_before_they_are_created(
    git_repo: Any, apps: Apps, controller: Controller, dest_namespace: str
) -> None:
    git_repo.commit(example_files())
    # (ConfigMaps are read for the controller's own settings: Deployments and Services say it.)
    gets_before = {r: _sent(controller, "get", r) for r in (DEPLOYMENT, "services")}
    dry_runs_before = sum(_sent(controller, "apply", r, dry_run=True) for r in KINDS)
    name = await apps.create(git_repo.git_url, dest=dest_namespace, automated={"prune": True})
    await apps.wait_synced(name)

    for resource, before in gets_before.items():
        assert _sent(controller, "get", resource) == before, resource
    # The namespace is created by the sync, and the controller's list of namespaces says
    # it is missing: the comparison sends no dry run there (each would answer 404); the
    # sync dry-runs each object once after creating the namespace, before applying any;
    # and what it applied is not dry-run again afterwards.
    assert sum(_sent(controller, "apply", r, dry_run=True) for r in KINDS) - dry_runs_before == 3
    assert _sent(controller, "apply", DEPLOYMENT) >= 1


async def test_a_commit_applies_only_what_it_changes(
    git_repo: Any, apps: Apps, controller: Controller, dest_namespace: str
) -> None:
    files = example_files()
    git_repo.commit(files)
    name = await apps.create(git_repo.git_url, dest=dest_namespace, automated={"prune": True})
    await apps.wait_synced(name)
    applies_before = {r: _sent(controller, "apply", r) for r in (DEPLOYMENT, *UNCHANGED)}

    deployment = "apps/finance/deployment.yaml"
    files[deployment] = files[deployment].replace("finance-api:1.4", "finance-api:1.5")
    sha = git_repo.commit({deployment: files[deployment]}, "new image")
    status = await apps.wait_synced(name, revision=sha)

    assert _sent(controller, "apply", DEPLOYMENT) == applies_before[DEPLOYMENT] + 1
    for resource in UNCHANGED:
        assert _sent(controller, "apply", resource) == applies_before[resource], resource
    # Not sent, yet part of the sync as before: the history and the result name all three.
    result = status["operationState"]["syncResult"]["resources"]
    assert {r["kind"] for r in result if r["status"] == "Synced"} == {
        "ConfigMap",
        "Deployment",
        "Service",
    }
    assert "applied 3" in status["operationState"]["message"]
