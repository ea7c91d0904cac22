"""ApplicationSets against the real control plane and a real Git daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from appsets_helpers import Sets

from tether.controller.runtime import Controller


@pytest.fixture
async def sets(controller: Controller) -> AsyncIterator[Sets]:
    helper = Sets(controller.kube)
    yield helper
    await helper.cleanup()
