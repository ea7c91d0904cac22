"""What the source step remembers per app: its last render, kept packed.

A memo lets the next pass reuse a render when the revision and the source
options are the same (or, for Git, when the new commit does not touch the
app's path).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tether.controller.packed import pack, unpack_list
from tether.engine.objects import Obj


@dataclass
class RenderResult:
    sha: str
    objects: list[Obj]
    rendered: bool  # False when an earlier render was reused
    message: str = ""


@dataclass
class SourceStats:
    renders: int = 0
    reuses: int = 0
    resolves: int = 0
    fetch_errors: int = 0
    fetch_seconds: list[float] = field(default_factory=list)


@dataclass
class Memo:
    sha: str
    options: str
    packed: bytes  # the rendered objects, kept packed (controller.packed): one per app
    whole_repo: bool = False  # Jsonnet imports may read any file of the repository

    @property
    def objects(self) -> list[Obj]:
        """A fresh copy each time: what one pass does to it the next never sees."""
        return unpack_list(self.packed)

    def reused(self) -> RenderResult:
        return RenderResult(self.sha, self.objects, rendered=False)


class RenderMemos:
    """The last render of each app (keyed by app, ``app#n`` for a multi-source part)."""

    def __init__(self) -> None:
        self._memo: dict[str, Memo] = {}
        self._lock = threading.Lock()

    def get(self, app_key: str) -> Memo | None:
        return self._memo.get(app_key)

    def put(self, app_key: str, memo: Memo) -> None:
        with self._lock:
            self._memo[app_key] = memo

    def rendered(
        self, app_key: str, sha: str, options: str, objects: list[Obj], *, whole_repo: bool = False
    ) -> RenderResult:
        """Remember a fresh render and return it."""
        self.put(app_key, Memo(sha, options, pack(objects), whole_repo))
        return RenderResult(sha, objects, rendered=True)

    def forget(self, app_key: str) -> None:
        with self._lock:
            for key in [k for k in self._memo if k == app_key or k.startswith(app_key + "#")]:
                self._memo.pop(key, None)
