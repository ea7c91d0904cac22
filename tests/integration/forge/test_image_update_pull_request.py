"""An image update pushed to its own branch opens one pull request on a real Gitea,
and the next update updates that request instead of opening another.

Real parts: the password-protected registry, Gitea (Git over HTTP with the
admin's token as the project's repository credential, and its pull request
API), the local control plane and a Controller running image automation.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fixtures.gitea import GiteaRepo
from fixtures.registry import RegistryServer
from fixtures.tether import APP_NS
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.runtime import Controller
from tether.testenv.gitea import GiteaServer

BRANCH = "image-updates"


@pytest.fixture
async def secrets_made(controller: Controller) -> AsyncIterator[list[tuple[str, str, str]]]:
    made: list[tuple[str, str, str]] = []
    yield made
    for api_version, kind, name in made:
        await controller.kube.delete(api_version, kind, name, APP_NS)


async def create(kube: KubeClient, made: list[tuple[str, str, str]], obj: dict[str, Any]) -> str:
    name = obj["metadata"]["name"]
    obj["metadata"]["namespace"] = APP_NS
    await kube.create(obj)
    made.append((obj["apiVersion"], obj["kind"], name))
    return str(name)


async def test_an_update_opens_one_pull_request_and_the_next_update_updates_it(
    gitea_server: GiteaServer,
    gitea_repo: GiteaRepo,
    registry_server: RegistryServer,
    controller: Controller,
    secrets_made: list[tuple[str, str, str]],
) -> None:
    kube = controller.kube
    suffix = secrets.token_hex(3)
    repository = f"team/api-{suffix}"
    ci = registry_server.users["ci"]
    registry_server.push_image(repository, "1.0.0", "ci", ci)
    image = f"{registry_server.host}/{repository}"
    policy = f"api-{suffix}"
    marker = f'{{"$imagepolicy": "{APP_NS}:{policy}"}}'
    base = gitea_repo.commit(
        {"apps/web/image.yaml": f"# the API\nimage: {image}:1.0.0 # {marker}\n"}, "first"
    )

    # The project's Git credential (pushes) and the policy's API token (pull requests).
    await create(kube, secrets_made, {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": f"repo-{suffix}", "labels": {"tether.dev/secret-type": "repository"}},
        "stringData": {"url": gitea_repo.url, "username": gitea_server.admin,
                       "password": gitea_server.token},
    })  # fmt: skip
    token_secret = await create(kube, secrets_made, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"forge-{suffix}"},
        "stringData": {"api-token": gitea_server.token},
    })  # fmt: skip
    login = base64.b64encode(f"ci:{ci}".encode()).decode()
    pull_secret = await create(kube, secrets_made, {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": f"pull-{suffix}"},
        "stringData": {".dockerconfigjson": json.dumps(
            {"auths": {registry_server.host: {"auth": login}}})},
    })  # fmt: skip
    await create(kube, secrets_made, {
        "apiVersion": "tether.dev/v1alpha1", "kind": "ImagePolicy",
        "metadata": {"name": policy},
        "spec": {
            "image": image,
            "secretRef": {"name": pull_secret},
            "interval": "1s",
            "policy": {"semver": {"range": "1.x"}},
            "writeBack": {
                "repoURL": gitea_repo.url,
                "branch": "main",
                "pushBranch": BRANCH,
                "paths": ["apps/web"],
                "pullRequest": {"gitea": {
                    "api": gitea_server.url,
                    "tokenRef": {"secretName": token_secret, "key": "api-token"},
                }},
            },
        },
    })  # fmt: skip

    async def recorded(tag: str) -> dict[str, Any] | None:
        obj = await kube.get("tether.dev/v1alpha1", "ImagePolicy", policy, APP_NS)
        status = obj.get("status") or {}
        pull = status.get("pullRequest") or {}
        last = status.get("lastCommit") or {}
        if last.get("tag") == tag and pull.get("head") == last.get("sha"):
            return dict(status)
        return None

    registry_server.push_image(repository, "1.1.0", "ci", ci)
    first = await await_for(lambda: recorded("1.1.0"), timeout=90, what="a pull request for 1.1.0")
    [opened] = gitea_repo.pulls()
    assert opened["number"] == first["pullRequest"]["number"]
    assert opened["html_url"] == first["pullRequest"]["url"]
    assert (opened["state"], opened["head"]["ref"], opened["base"]["ref"]) == (
        "open",
        BRANCH,
        "main",
    )
    assert opened["head"]["sha"] == first["lastCommit"]["sha"]
    assert opened["title"] == f"Update {image} to 1.1.0"

    registry_server.push_image(repository, "1.2.0", "ci", ci)
    second = await await_for(lambda: recorded("1.2.0"), timeout=90, what="the update for 1.2.0")
    [updated] = gitea_repo.pulls()  # still one, open or not
    assert updated["number"] == opened["number"]
    assert updated["state"] == "open"
    assert updated["title"] == f"Update {image} to 1.2.0"
    assert updated["head"]["sha"] == second["lastCommit"]["sha"]
    assert "1.1.0 -> 1.2.0" in updated["body"]

    # main is untouched until someone merges
    gitea_repo.git("fetch", "-q", "origin", "main")
    assert gitea_repo.git("rev-parse", "origin/main") == base
