"""An API server answering 500 to a background pass is one WARNING line, not a traceback.

The ApplicationSet, image-automation and registry-credential passes recover
from a Kubernetes API error at their next pass, so logging each as an ERROR
with a traceback only buries real bugs. The controller runs behind the fault
proxy in front of the real API server; each pass's list request fails for a
few seconds.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from chaos.proxy import FaultProxy

from fixtures.tether import APP_NS
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.reconciler import Settings
from tether.controller.runtime import Controller
from tether.testenv import cluster as localcluster
from tether.testenv import kubeconfig as kubeconfigs

pytestmark = pytest.mark.cluster
PASSES = {
    "applicationsets": "/applicationsets$",
    "image-automation": "/imagepolicies$",
    "registry-credentials": "/registrycredentials$",
}


@pytest.fixture
async def proxied_controller(
    installed: localcluster.ClusterState, tmp_path: Path
) -> AsyncIterator[tuple[FaultProxy, Controller]]:
    proxy = FaultProxy(tmp_path, installed.server, installed.ca_file)
    path = tmp_path / "kubeconfig"
    kubeconfigs.write(path, server=proxy.url, ca_file=str(proxy.cert), token=installed.token)
    kube = KubeClient.from_kubeconfig(str(path))
    ctl = Controller(
        kube,
        settings=Settings(app_namespace=APP_NS, poll_interval=1.0),
        cache_dir=tmp_path / "cache",
        workers=1,
    )
    await ctl.start()
    try:
        yield proxy, ctl
    finally:
        await ctl.stop()
        await kube.close()
        proxy.close()


@pytest.mark.parametrize("name", sorted(PASSES))
async def test_a_pass_failed_by_the_api_logs_one_warning_naming_it_and_the_status(
    proxied_controller: tuple[FaultProxy, Controller],
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    proxy, _ctl = proxied_controller
    caplog.set_level(logging.WARNING)
    loops_log = "tether.controller.loops"

    def failed() -> list[logging.LogRecord]:
        return [
            r
            for r in caplog.records
            if r.name == loops_log and r.getMessage().startswith(f"{name} pass failed")
        ]

    proxy.episode("500", seconds=6, ratio=1.0, only=PASSES[name], method="GET")

    async def logged() -> list[logging.LogRecord] | None:
        return failed() or None

    records = await await_for(logged, timeout=30, what=f"the {name} pass failing")
    assert proxy.counts["500"] >= 1
    record = records[0]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "\n" not in record.getMessage()
    assert "500 InternalError" in record.getMessage(), record.getMessage()
    tracebacks = [r for r in caplog.records if r.exc_info and r.name.startswith("tether.")]
    assert not tracebacks, [r.getMessage() for r in tracebacks]
