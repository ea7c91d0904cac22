"""The clusters generator over clusters registered as Secrets (``tether clusters add``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from appsets_helpers import Sets, configmap

from fixtures.tether import APP_NS
from tether.adapters.kube import KubeClient
from tether.engine import clusters as registry

# Loopback addresses with nothing listening: the generated apps are never synced here,
# only generated, so no connection to these servers is needed.
EAST, WEST, LAB = "https://127.0.0.1:1", "https://127.0.0.1:2", "https://127.0.0.1:3"


class Registered:
    def __init__(self, kube: KubeClient, prefix: str) -> None:
        self.kube, self.prefix = kube, prefix
        self.names: list[str] = []

    async def add(self, name: str, server: str, **labels: str) -> str:
        cluster = registry.Cluster(
            name=f"{self.prefix}-{name}",
            server=server,
            config={"bearerToken": "unused"},
            labels=tuple(labels.items()),
        )
        obj = registry.to_secret(cluster, APP_NS)
        await self.kube.create(obj)
        self.names.append(obj["metadata"]["name"])
        return str(obj["metadata"]["name"])

    async def relabel(self, secret: str, **labels: str) -> None:
        await self.kube.merge_patch(
            "v1", "Secret", secret, {"metadata": {"labels": labels}}, APP_NS
        )

    async def remove(self, secret: str) -> None:
        await self.kube.delete("v1", "Secret", secret, APP_NS)
        self.names.remove(secret)


@pytest.fixture
async def clusters(sets: Sets) -> AsyncIterator[Registered]:
    helper = Registered(sets.kube, sets.prefix)
    yield helper
    for name in helper.names:
        await sets.kube.delete("v1", "Secret", name, APP_NS)


def cluster_set(
    repo_url: str, prefix: str, project: str, selector: dict[str, Any], **annotations: str
) -> Any:
    """Apps named ``PREFIX-<cluster>``, each deploying ``web`` to its cluster."""
    return {
        "goTemplate": True,
        "generators": [{"clusters": {"selector": selector}}],
        "template": {
            "metadata": {
                "name": prefix + "-{{.nameNormalized}}",
                "annotations": annotations,
            },
            "spec": {
                "project": project,
                "source": {"repoURL": repo_url, "targetRevision": "main", "path": "web"},
                "destination": {"server": "{{.server}}", "namespace": prefix},
            },
        },
        # The apps never synced: deleting one deletes only the Application.
        "syncPolicy": {"applicationsSync": "sync", "preserveResourcesOnDeletion": True},
    }


async def test_an_app_per_registered_cluster_its_selector_matches_following_the_secrets(
    git_repo: Any, sets: Sets, clusters: Registered, make_project: Any
) -> None:
    git_repo.commit({"web/cm.yaml": configmap("web")})
    project = await make_project.create()
    await clusters.add("east", EAST, env="prod")
    west = await clusters.add("west", WEST, env="prod")
    lab = await clusters.add("lab", LAB, env="dev")
    p = sets.prefix
    prod = await sets.create(
        sets.name("prod"),
        cluster_set(
            git_repo.git_url,
            "prod",
            project,
            {"matchLabels": {"env": "prod"}},
            env="{{.metadata.labels.env}}",
            registered='{{index .metadata.labels "argocd.argoproj.io/secret-type"}}',
        ),
    )
    found = await sets.wait_apps(prod, {f"prod-{p}-east", f"prod-{p}-west"})
    east_app = found[f"prod-{p}-east"]
    assert east_app["spec"]["destination"]["server"] == EAST
    assert east_app["metadata"]["annotations"] == {"env": "prod", "registered": "cluster"}

    # Labelling a cluster brings it in; removing its registration takes its app away.
    await clusters.relabel(lab, env="prod")
    await sets.wait_apps(prod, {f"prod-{p}-east", f"prod-{p}-west", f"prod-{p}-lab"})
    await clusters.remove(west)
    await sets.wait_apps(prod, {f"prod-{p}-east", f"prod-{p}-lab"})

    # An empty selector is every cluster, the one Tether runs in included.
    every = await sets.create(
        sets.name("every"),
        cluster_set(git_repo.git_url, f"all-{p}", project, {}),
    )
    found = await sets.wait_apps(
        every, {f"all-{p}-in-cluster", f"all-{p}-{p}-east", f"all-{p}-{p}-lab"}, "every cluster"
    )
    home = found[f"all-{p}-in-cluster"]
    assert home["spec"]["destination"]["server"] == registry.IN_CLUSTER
