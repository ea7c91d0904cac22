"""A background pass whose CRD the cluster does not serve idles, and says so once."""

from __future__ import annotations

import logging

import pytest

from tether.adapters.kube import KubeClient
from tether.controller.loops import ServedKind


async def test_a_kind_the_cluster_does_not_serve_is_none_and_warned_about_once(
    kube: KubeClient, caplog: pytest.LogCaptureFixture
) -> None:
    served = ServedKind(kube, "example.invalid/v1", "Widget")
    with caplog.at_level(logging.WARNING, logger="tether.controller.loops"):
        assert await served.api() is None
        assert await served.api() is None
    warnings = [r.getMessage() for r in caplog.records if "CRD not served" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith("Widget CRD not served")
    assert "tether install" in warnings[0]


async def test_a_served_kind_gives_its_api(kube: KubeClient) -> None:
    api = await ServedKind(kube, "v1", "ConfigMap").api()
    assert api is not None
    assert api.path("default", "x") == "/api/v1/namespaces/default/configmaps/x"
