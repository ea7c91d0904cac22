"""`tether cluster up/down/status` start and stop exactly what they own, with clear errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tether.testenv import binaries, processes
from tether.testenv import cluster as localcluster

TETHER = str(Path(sys.executable).with_name("tether"))


def _tether(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TETHER, *args], capture_output=True, text=True, check=False, timeout=180)


def test_up_then_down_leaves_no_process_behind(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    up = _tether("cluster", "up", "--nodes", "1", "--dir", str(directory))
    assert up.returncode == 0, up.stderr
    assert "KUBECONFIG=" in up.stdout
    state = json.loads((directory / "state.json").read_text())
    pids = [c["pid"] for c in state["components"]]
    assert len(pids) == 5
    assert all(processes.is_running(pid) for pid in pids)

    status = _tether("cluster", "status", "--dir", str(directory))
    assert status.returncode == 0, status.stdout
    assert "1 nodes Ready" in status.stdout

    down = _tether("cluster", "down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    assert not any(processes.is_running(pid) for pid in pids)
    assert not directory.exists()


def test_status_without_a_cluster_says_how_to_start_one(tmp_path: Path) -> None:
    result = _tether("cluster", "status", "--dir", str(tmp_path / "none"))
    assert result.returncode == 3
    assert "tether cluster up" in result.stdout


def test_stale_state_directory_is_reported_with_the_cleanup_command(tmp_path: Path) -> None:
    directory = tmp_path / "stale"
    directory.mkdir()
    localcluster.ClusterState(
        directory=str(directory),
        server="https://127.0.0.1:1",
        kubeconfig="k",
        ca_file="c",
        token="t",
        nodes=1,
        components=[localcluster.Component("etcd", 999999, "x.log")],
    ).save()
    result = _tether("cluster", "up", "--dir", str(directory))
    assert result.returncode == 1
    assert "stale cluster state" in result.stderr
    assert "tether cluster down" in result.stderr
    assert "Traceback" not in result.stderr


def test_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = _tether("cluster", "up", "--port", str(port), "--dir", str(tmp_path / "c"))
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "already in use" in result.stderr


def test_missing_binaries_say_how_to_build_them(tmp_path: Path) -> None:
    with pytest.raises(binaries.BinariesMissing, match="tether cluster build"):
        binaries.Binaries.locate(tmp_path)


def test_component_that_exits_early_shows_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    broken = fake / "tether-testenv"
    broken.write_text('#!/bin/sh\necho "boom: $1 cannot start" >&2\nexit 3\n')
    broken.chmod(0o755)
    real = binaries.Binaries.locate()
    with pytest.raises(localcluster.ClusterError) as info:
        localcluster.up(
            tmp_path / "c",
            nodes=1,
            binaries=binaries.Binaries(control_plane=broken, kwok=real.kwok),
        )
    assert "etcd exited early" in str(info.value)
    assert "boom: etcd cannot start" in str(info.value)
