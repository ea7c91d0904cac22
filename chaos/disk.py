"""The controller's cache directory as a fault target: a disk that fills up, a directory deleted.

The cache (``TETHER_CACHE_DIR``: bare Git repositories, charts, write-back
clones) is put on a small tmpfs of its own before the controller starts, so
"disk full" is a real ENOSPC from the kernel for every write the controller
makes there, and nothing else on the machine fills up. Filling is done by a
file written until the kernel refuses; freeing removes it. Mounting needs
root (the test container has it); without it the disk-full fault cannot be
injected and says so, while deleting the cache works anywhere.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

from bench.harness import log

SIZE = "64m"  # the chaos repository's clone and its packs use a few MiB


class CacheDisk:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs", str(path)],
            capture_output=True,
            check=False,
        )
        self.mounted = done.returncode == 0
        self.why_not = done.stderr.decode(errors="replace").strip()
        self._filler = path / ".chaos-filler"

    def fill(self) -> int:
        """Write until the kernel says ENOSPC; the bytes it took."""
        if not self.mounted:
            raise RuntimeError(f"disk-full needs its own filesystem; mount refused: {self.why_not}")
        written = 0
        with contextlib.suppress(OSError), self._filler.open("wb") as out:
            for chunk in (1 << 20, 1 << 12, 1):  # to the last byte, so no small write fits
                with contextlib.suppress(OSError):
                    while True:
                        out.write(b"\0" * chunk)
                        out.flush()
                        written += chunk
        log(f"cache disk full ({written >> 20} MiB of filler)")
        return written

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)

    def delete(self) -> list[str]:
        """``rm -rf`` everything in the cache, as a clean-up job would; what it removed."""
        gone = []
        for child in self.path.iterdir():
            if child == self._filler:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
            gone.append(child.name)
        log(f"cache deleted: {', '.join(sorted(gone)) or 'nothing there'}")
        return gone

    def close(self) -> None:
        self.free()
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)
            self.mounted = False
