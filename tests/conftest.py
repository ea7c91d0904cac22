"""Test-wide setup: make ``tests/`` importable and register shared fixture modules."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pytest

pytest_plugins = ["fixtures.gitserver", "fixtures.cluster", "fixtures.tether", "fixtures.server"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need the whole host (their own cluster with real nodes, compared
    with the host before and after) run before any test starts the session's
    real-node cluster, which holds the host until the session ends."""
    items.sort(key=lambda item: item.get_closest_marker("whole_host") is None)
