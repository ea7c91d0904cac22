"""GitWriter's clones on a disk that fills up or is deleted, against the real git daemon.

A full disk used to escape the writer as a bare OSError from libgit2 ("failed
to write out file"): the ImagePolicy kept its old Ready=True condition and
only the log had a traceback. A half-deleted clone (HEAD left, objects gone)
was opened as if whole. A real (small) tmpfs, skipped where it cannot be mounted.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.gitserver import GitRepo, GitServer
from tether.adapters.git import GitError, GitIdentity
from tether.adapters.git.writeback import GitWriter, WriteResult
from tether.engine.images.markers import Target, plan_markers

AUTHOR = GitIdentity("Tether Image Automation", "images@tether.example")
DEPLOY = 'image: 127.0.0.1:5000/team/api:1.0.0 # {"$imagepolicy": "tether:api"}\n'


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
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
        for chunk in (65536, 1):
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * chunk)
                    out.flush()
    return filler


def write(writer: GitWriter, repo: GitRepo, tag: str) -> WriteResult:
    target = Target("tether", "api", "127.0.0.1:5000/team/api", tag)
    return writer.write(
        repo.git_url,
        branch="main",
        plan=lambda files: plan_markers(files, target),
        message=f"Update api to {tag}",
        author=AUTHOR,
    )


def subjects(repo: GitRepo) -> list[str]:
    return repo.git("log", "--format=%s", "origin/main").splitlines()


def test_a_full_disk_at_the_commit_pushes_nothing_and_says_so(
    git_server: GitServer, small_disk: Path
) -> None:
    repo = git_server.create_repo({"deploy.yaml": DEPLOY})
    writer = GitWriter(small_disk / "writeback")
    write(writer, repo, "1.1.0")
    before = repo.head()
    filler = fill(small_disk)

    with pytest.raises(GitError) as failed:
        write(writer, repo, "1.2.0")
    assert str(failed.value) == (
        f"cannot write back to {repo.git_url}: the controller's write-back cache is out of "
        "disk space (No space left on device)"
    )
    assert repo.head() == before

    filler.unlink()
    assert write(writer, repo, "1.2.0").sha == repo.head()
    repo.git("fetch", "-q", "origin")
    assert subjects(repo)[:3] == ["Update api to 1.2.0", "Update api to 1.1.0", "initial commit"]


def test_a_full_disk_before_the_first_clone_is_not_the_servers_fault(
    git_server: GitServer, small_disk: Path
) -> None:
    repo = git_server.create_repo({"deploy.yaml": DEPLOY})
    writer = GitWriter(small_disk / "writeback")
    fill(small_disk)
    with pytest.raises(GitError, match="write-back cache is out of disk space") as failed:
        write(writer, repo, "1.1.0")
    assert "cannot fetch" not in str(failed.value)
    assert str(small_disk) not in str(failed.value)


def test_a_deleted_or_half_deleted_clone_is_cloned_again(
    git_server: GitServer, tmp_path: Path
) -> None:
    repo = git_server.create_repo({"deploy.yaml": DEPLOY})
    writer = GitWriter(tmp_path / "writeback")
    write(writer, repo, "1.1.0")

    shutil.rmtree(tmp_path / "writeback")
    assert write(writer, repo, "1.2.0").sha == repo.head()

    (clone,) = (tmp_path / "writeback").iterdir()
    shutil.rmtree(clone / "objects")  # a clean-up interrupted half-way: HEAD is left
    assert write(writer, repo, "1.3.0").sha == repo.head()
    repo.git("fetch", "-q", "origin")
    assert subjects(repo)[:3] == [
        "Update api to 1.3.0",
        "Update api to 1.2.0",
        "Update api to 1.1.0",
    ]


def test_a_full_disk_while_fetching_new_commits_names_the_cache_not_the_server(
    git_server: GitServer, small_disk: Path
) -> None:
    repo = git_server.create_repo({"deploy.yaml": DEPLOY})
    writer = GitWriter(small_disk / "writeback")
    write(writer, repo, "1.1.0")
    filler = fill(small_disk)
    # Incompressible, so the fetched pack cannot fit in what is left.
    blob = subprocess.run(["head", "-c", "300000", "/dev/urandom"], capture_output=True).stdout
    repo.git("pull", "-q", "origin", "main")
    moved = repo.commit({"big.bin": blob}, message="someone else's change")

    with pytest.raises(GitError, match="write-back cache is out of disk space") as failed:
        write(writer, repo, "1.2.0")
    assert "cannot fetch" not in str(failed.value)
    assert str(small_disk) not in str(failed.value)
    assert repo.head() == moved

    filler.unlink()
    assert write(writer, repo, "1.2.0").sha == repo.head()
