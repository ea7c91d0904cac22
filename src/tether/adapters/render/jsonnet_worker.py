"""The child process that evaluates Jsonnet files for ``render.jsonnet``.

Jsonnet evaluation cannot be interrupted from Python, and a two-line program
can recurse forever or allocate without bound, so it runs here, in a process
of its own that the parent can kill on its timeout and output cap (the same
sandbox as kustomize and helm: no network). Imports are answered from the
repository copy only: a path that leaves it is an error, never a host file.

Protocol: one JSON request file as the only argument; the results, as a JSON
list of ``{"file": ..., "value": ...}``, on stdout; an error on stderr with
exit status 1.
"""

from __future__ import annotations

import json
import os
import posixpath
import sys
from typing import Any

import _jsonnet  # type: ignore[import-untyped]

MAX_STACK = 500


class _Importer:
    def __init__(self, root: str, libs: list[str]) -> None:
        self.root = os.path.realpath(root)
        self.libs = libs

    def _inside(self, rel: str) -> str | None:
        rel = posixpath.normpath(rel)
        if rel == ".." or rel.startswith("../") or rel.startswith("/"):
            return None
        full = os.path.realpath(os.path.join(self.root, rel))
        if full != self.root and not full.startswith(self.root + os.sep):
            return None
        return full if os.path.isfile(full) else None

    def __call__(self, base: str, name: str) -> tuple[str, bytes]:
        base_rel = os.path.relpath(base, self.root) if base.startswith("/") else base
        candidates = [posixpath.join(base_rel, name)] + [
            posixpath.join(lib, name) for lib in self.libs
        ]
        for candidate in candidates:
            found = self._inside(candidate)
            if found is not None:
                with open(found, "rb") as handle:
                    return found, handle.read()
        raise RuntimeError(
            f"import '{name}' not found in the repository (searched the file's "
            "directory and directory.jsonnet.libs)"
        )


def evaluate(request: dict[str, Any]) -> list[dict[str, Any]]:
    root = request["root"]
    importer = _Importer(root, list(request.get("libs") or []))
    out = []
    for rel in request["files"]:
        path = os.path.join(root, rel)
        with open(path, encoding="utf-8") as handle:
            snippet = handle.read()
        text = _jsonnet.evaluate_snippet(
            path,
            snippet,
            ext_vars=request.get("ext_vars") or {},
            ext_codes=request.get("ext_codes") or {},
            tla_vars=request.get("tla_vars") or {},
            tla_codes=request.get("tla_codes") or {},
            import_callback=importer,
            max_stack=MAX_STACK,
        )
        out.append({"file": rel, "value": json.loads(text)})
    return out


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as handle:
        request = json.load(handle)
    try:
        results = evaluate(request)
    except RuntimeError as exc:
        sys.stderr.write(str(exc).replace(os.path.realpath(request["root"]) + "/", ""))
        return 1
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
