"""The chart archive cache when its disk is full or its directory is deleted.

A full disk used to escape as a bare OSError: the app got no condition at
all, only a traceback in the log, and the torn ``.partial-`` file stayed to
take the space a retry needed. A real (tiny) tmpfs, skipped where it cannot
be mounted.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.adapters.charts import ChartError
from tether.adapters.charts.store import ChartStore, cache_write_failure, sha256


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    (mount / "charts").mkdir()
    filler = mount / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as out:
        for chunk in (4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * chunk)
                    out.flush()
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_a_chart_error_that_says_so_and_leaves_nothing_behind(
    full_disk: Path,
) -> None:
    store = ChartStore(full_disk / "charts")
    with pytest.raises(ChartError) as failed:
        store.put(b"x" * 10_000, "https://charts.example.com web 1.1.0")
    message = str(failed.value)
    assert message == (
        "https://charts.example.com web 1.1.0: the controller's chart cache is out of "
        "disk space (No space left on device)"
    )
    assert str(full_disk) not in message
    assert list((full_disk / "charts").iterdir()) == []

    (full_disk / "filler").unlink()
    digest = store.put(b"x" * 10_000)
    assert store.get(digest) == b"x" * 10_000


def test_a_deleted_cache_directory_is_a_miss_and_is_made_again(tmp_path: Path) -> None:
    store = ChartStore(tmp_path / "cache" / "charts")
    digest = store.put(b"chart")
    shutil.rmtree(tmp_path / "cache")
    assert store.get(digest) is None
    assert store.put(b"chart") == digest == sha256(b"chart")
    assert store.get(digest) == b"chart"


def test_other_write_failures_name_the_reason_not_the_path() -> None:
    denied = OSError(errno.EACCES, "Permission denied", "/var/cache/tether/charts/x")
    assert cache_write_failure(denied) == (
        "cannot write the controller's chart cache (Permission denied)"
    )
    quota = OSError(errno.EDQUOT, "Disk quota exceeded")
    assert "out of disk space" in cache_write_failure(quota, "write-back cache")
