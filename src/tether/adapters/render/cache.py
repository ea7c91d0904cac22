"""A bounded in-memory cache of renders, keyed by what fully determines them.

Rendering the same commit with the same options always gives the same
objects, and helm/kustomize runs cost hundreds of milliseconds, so the
controller's periodic reconciles reuse the previous result until the commit
or the options change. Results are deep-copied in and out because callers
mutate objects (namespace defaulting, labels) after rendering.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tether.adapters.render.files import RepoFiles
from tether.adapters.render.render import render
from tether.adapters.render.source import RenderSource, parse_source
from tether.engine.objects import Obj

CacheKey = tuple[str, str, str, str]


class RenderCache:
    """LRU of ``(repo url, commit sha, path, options hash) -> objects``."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[CacheKey, list[Obj]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(repo_url: str, sha: str, source: RenderSource, **context: Any) -> CacheKey:
        extra = repr(sorted(context.items()))
        digest = hashlib.sha256((source.options_hash() + extra).encode()).hexdigest()
        return (repo_url, sha, source.path, digest)

    def get(self, key: CacheKey) -> list[Obj] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return copy.deepcopy(found)

    def put(self, key: CacheKey, objects: list[Obj]) -> None:
        with self._lock:
            self._entries[key] = copy.deepcopy(objects)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def render(
        self,
        repo_url: str,
        sha: str,
        files: RepoFiles | str | Path | Callable[[], RepoFiles],
        source: Mapping[str, Any] | RenderSource,
        *,
        app_name: str = "release",
        namespace: str = "default",
        helm_path: str | None = None,
        kubectl_path: str | None = None,
        allow_remote: bool = False,
    ) -> list[Obj]:
        """Cached :func:`render`; ``files`` may be a loader called only on a miss."""
        spec = parse_source(source)
        key = self.key(
            repo_url, sha, spec, app_name=app_name, namespace=namespace, allow_remote=allow_remote
        )
        cached = self.get(key)
        if cached is not None:
            return cached
        loaded = files() if callable(files) else files
        objects = render(
            loaded,
            spec,
            app_name=app_name,
            namespace=namespace,
            helm_path=helm_path,
            kubectl_path=kubectl_path,
            allow_remote=allow_remote,
        )
        self.put(key, objects)
        return objects

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
