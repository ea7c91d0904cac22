"""One cluster with real nodes per host: a starting cluster holds the host, a gone one does not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tether.testenv import hostlock


@pytest.fixture
def lock_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "run" / "real-nodes.json"
    monkeypatch.setattr(hostlock, "LOCK_FILE", path)
    return path


def test_a_cluster_still_starting_holds_the_host_before_any_node_process_runs(
    lock_file: Path, tmp_path: Path
) -> None:
    """Attack: a second `up` while the first has recorded no node process yet."""
    assert hostlock.take(tmp_path / "first") is None
    assert json.loads(lock_file.read_text())["pids"] == []
    with pytest.raises(hostlock.HostHeld) as err:
        hostlock.take(tmp_path / "second")
    assert str(tmp_path / "first") in str(err.value)
    assert json.loads(lock_file.read_text())["directory"] == str(tmp_path / "first")


def test_after_up_the_node_processes_hold_the_host_and_their_exit_frees_it(
    lock_file: Path, tmp_path: Path
) -> None:
    first = tmp_path / "first"
    node = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", str(first)],
    )
    try:
        hostlock.take(first)
        hostlock.record_pid(first, node.pid)
        hostlock.started(first)
        assert "owner" not in json.loads(lock_file.read_text())
        assert hostlock.holder() == str(first)
        with pytest.raises(hostlock.HostHeld):
            hostlock.take(tmp_path / "second")
    finally:
        node.kill()
        node.wait()
    assert hostlock.holder() is None
    assert hostlock.take(tmp_path / "second") == first  # its leftovers are the taker's to clear
    assert hostlock.holder() == str(tmp_path / "second")


def test_a_reused_pid_does_not_hold_the_host(lock_file: Path, tmp_path: Path) -> None:
    lock_file.parent.mkdir(parents=True)
    stale = {"directory": str(tmp_path / "gone"), "owner": 1, "owner_start": "0", "pids": [1]}
    lock_file.write_text(json.dumps(stale))
    assert hostlock.holder() is None
    assert hostlock.take(tmp_path / "new") == tmp_path / "gone"
    hostlock.release(tmp_path / "new")
    assert not lock_file.exists()
