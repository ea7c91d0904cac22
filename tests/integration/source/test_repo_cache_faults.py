"""The repository cache when its disk fails under a running controller.

Found by the chaos suite: deleting the cache directory left every later fetch
failing ("cannot reach <url>: failed to create temporary file ...") until the
controller restarted, and a full disk read as "cannot reach" the Git server
too. A real git daemon and a real (small tmpfs) filesystem, no mocks.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.adapters.git import GitError, RepoCache


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (we run as root in the test container; skipped elsewhere)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as out:
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


def test_a_deleted_cache_is_rebuilt_without_a_restart(git_repo, tmp_path: Path) -> None:
    cache = RepoCache(tmp_path / "cache" / "repos")
    first = cache.resolve(git_repo.git_url, "main")
    assert cache.read_tree(git_repo.git_url, first)

    shutil.rmtree(tmp_path / "cache")
    second = git_repo.commit({"app/cm.yaml": "kind: ConfigMap\n"})

    assert cache.resolve(git_repo.git_url, "main") == second
    assert cache.read_tree(git_repo.git_url, second, "app") == {"cm.yaml": b"kind: ConfigMap\n"}


def test_a_cache_half_deleted_is_rebuilt(git_repo, tmp_path: Path) -> None:
    cache = RepoCache(tmp_path / "repos")
    cache.resolve(git_repo.git_url, "main")
    (repo_dir,) = (tmp_path / "repos").iterdir()
    shutil.rmtree(repo_dir / "objects")  # a clean-up interrupted half-way
    second = git_repo.commit({"b.yaml": "b: 1\n"})

    assert cache.resolve(git_repo.git_url, "main") == second
    assert "b.yaml" in cache.read_tree(git_repo.git_url, second)


def test_a_full_disk_is_named_and_fetching_resumes_when_space_returns(
    git_repo, small_disk: Path
) -> None:
    cache = RepoCache(small_disk / "repos")
    cache.resolve(git_repo.git_url, "main")
    filler = fill(small_disk)
    # Incompressible, so the pack cannot fit in what is left.
    blob = subprocess.run(["head", "-c", "400000", "/dev/urandom"], capture_output=True).stdout
    new = git_repo.commit({"big.bin": blob})

    with pytest.raises(GitError) as failed:
        cache.resolve(git_repo.git_url, "main")
    message = str(failed.value)
    assert "out of disk space" in message, message
    assert "cannot reach" not in message
    assert str(small_disk) not in message  # the controller's paths stay out of app status

    filler.unlink()
    assert cache.resolve(git_repo.git_url, "main") == new
    assert "big.bin" in cache.read_tree(git_repo.git_url, new)


def test_a_cache_that_cannot_be_created_is_a_git_error(git_repo, small_disk: Path) -> None:
    cache = RepoCache(small_disk / "repos")
    fill(small_disk)
    with pytest.raises(GitError, match="repository cache"):
        cache.resolve(git_repo.git_url, "main")
