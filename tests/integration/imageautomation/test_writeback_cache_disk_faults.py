"""The image automation write-back clones when their disk fails under a running controller.

Each write-back repository has a bare clone in ``<cache>/writeback``. A real
control plane, the real password-protected registry (tags pushed with
skopeo), the real git daemon, and the controller's cache on a small tmpfs of
its own: the disk fills up for real (ENOSPC) and the clones are deleted for real.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from fixtures.cache_disk import CacheDisk, cache_disk, controller_on
from fixtures.registry import RegistryServer
from fixtures.waiting import await_for
from tether.controller.runtime import Controller
from tether.testenv import cluster as localcluster

__all__ = ["cache_disk"]

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      containers:
        - name: api
          image: {image}:1.0.0 # {{"$imagepolicy": "tether:{policy}"}}
"""


@pytest.fixture
def poll_interval() -> float:
    return 1.0  # the image loop scans every second, so a freed disk is seen at once


@pytest.fixture
async def controller(
    cache_disk: CacheDisk, installed: localcluster.ClusterState, poll_interval: float
) -> AsyncIterator[Controller]:
    async for ctl in controller_on(cache_disk, installed, poll_interval):
        yield ctl


def _ready(status: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})


async def _policy_in_git(
    git_repo: Any, policies: Any, registry_server: RegistryServer, repository: str
) -> tuple[str, str]:
    """An ImagePolicy writing back to ``git_repo``, scanned once with 1.0.0 already in Git."""
    image = f"{registry_server.host}/{repository}"
    name = "api-" + repository.rsplit("-", 1)[-1]
    git_repo.commit({"apps/api/deployment.yaml": DEPLOY.format(image=image, policy=name)})
    await policies.create(
        {
            "image": image,
            "secretRef": {"name": await policies.pull_secret(registry_server)},
            "interval": "1s",
            "policy": {"semver": {"range": "^1.0.0"}},
            "writeBack": {"repoURL": git_repo.git_url, "branch": "main", "paths": ["apps"]},
        },
        name=name,
    )
    await _wait_ready(policies, name, lambda c: c.get("reason") == "Succeeded", "in Git")
    return image, name


async def _wait_ready(
    policies: Any, name: str, check: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        status = await policies.status(name)
        return status if check(_ready(status)) else None

    return await await_for(probe, timeout=45, what=f"ImagePolicy {name}: {what}")


def _commits_since(git_repo: Any, base: str) -> list[str]:
    log = git_repo.git("log", "--format=%s", f"{base}..origin/main")
    return log.splitlines()


async def test_a_full_disk_pushes_nothing_says_so_and_the_tag_is_pushed_once_when_freed(
    cache_disk: CacheDisk,
    git_repo: Any,
    controller: Controller,
    policies: Any,
    registry_server: RegistryServer,
    repository: str,
    push_tag: Callable[[str, str], None],
) -> None:
    image, name = await _policy_in_git(git_repo, policies, registry_server, repository)
    before = git_repo.head()

    cache_disk.fill()
    push_tag(repository, "1.1.0")
    status = await _wait_ready(
        policies, name, lambda c: c.get("status") == "False", "Ready=False on the full disk"
    )
    message = _ready(status)["message"]
    assert "out of disk space" in message, message
    assert "cannot reach" not in message and "not found" not in message, message
    assert str(cache_disk.path) not in message
    assert git_repo.head() == before  # nothing half-written reached the remote

    cache_disk.free()
    status = await _wait_ready(
        policies, name, lambda c: c.get("reason") == "Succeeded", "committed once freed"
    )
    assert status["lastCommit"]["tag"] == "1.1.0"
    git_repo.git("fetch", "-q", "origin")
    assert _commits_since(git_repo, before) == [f"Update {image} to 1.1.0"]
    assert f"{image}:1.1.0 #" in git_repo.show("main", "apps/api/deployment.yaml")


async def test_a_deleted_write_back_clone_is_cloned_again_and_the_tag_pushed_once(
    cache_disk: CacheDisk,
    git_repo: Any,
    controller: Controller,
    policies: Any,
    registry_server: RegistryServer,
    repository: str,
    push_tag: Callable[[str, str], None],
) -> None:
    image, name = await _policy_in_git(git_repo, policies, registry_server, repository)
    before = git_repo.head()
    assert cache_disk.files("writeback")

    cache_disk.delete("writeback")
    push_tag(repository, "1.1.0")
    status = await _wait_ready(
        policies,
        name,
        lambda c: "1.1.0" in str(c.get("message")) and c.get("reason") == "Succeeded",
        "1.1.0 committed after the clone was deleted",
    )
    assert status["lastCommit"]["tag"] == "1.1.0"
    git_repo.git("fetch", "-q", "origin")
    assert _commits_since(git_repo, before) == [f"Update {image} to 1.1.0"]
    assert cache_disk.files("writeback")
