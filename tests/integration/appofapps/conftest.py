"""Fixtures for app-of-apps and dependency tests (helpers in ``appofapps_helpers``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from appofapps_helpers import Tree

from fixtures.tether import APP_NS, Projects
from tether.adapters.kube import KubeClient


@pytest.fixture
async def tree(kube: KubeClient) -> AsyncIterator[Tree]:
    helper = Tree(kube)
    yield helper
    await helper.cleanup()


@pytest.fixture
async def platform_project(make_project: Projects) -> str:
    """A project that may render Applications: it names Argo CD's Application kind and
    lists the app namespace as a destination (the permission to create apps), and lets
    the apps it renders name the default project."""
    return await make_project.create(
        childProjects=["default"],
        namespaceResourceWhitelist=[{"group": "argoproj.io", "kind": "Application"}],
        destinations=[
            {"server": "*", "namespace": APP_NS},
            {"server": "*", "namespace": "*"},
        ],
    )
