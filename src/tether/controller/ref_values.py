"""``$ref/path`` value files: Helm values of one source read from another source's Git files.

In Argo CD's multi-source Applications a Git source with ``ref: values``
lends its files to the other sources, whose ``helm.valueFiles`` may name
``$values/envs/prod/values.yaml``. Tether copies each referenced file into
the chart being rendered (under ``.tether-refs/<ref>/``) and points the value
file there, so ``helm template`` still reads nothing but its own copy. The
digest of the referenced contents joins the render's cache key: a
values-only commit in the other repository re-renders the chart.
"""

from __future__ import annotations

import copy
import hashlib
import posixpath
from collections.abc import Mapping
from typing import Any

from tether.adapters.render import RenderError
from tether.adapters.render.files import clean_path

RefFiles = Mapping[str, Mapping[str, bytes]]
REFS_DIR = ".tether-refs"


def uses_refs(source: Mapping[str, Any]) -> bool:
    helm = source.get("helm") or {}
    return any(str(v).startswith("$") for v in helm.get("valueFiles") or [])


def inject(
    source: Mapping[str, Any], files: Mapping[str, bytes], chart_path: str, refs: RefFiles
) -> tuple[dict[str, Any], dict[str, bytes], str]:
    """(source with value files rewritten, files with the referenced ones added, digest)."""
    out_source = copy.deepcopy(dict(source))
    helm = out_source.get("helm") or {}
    out_files = dict(files)
    digest = hashlib.sha256()
    rewritten: list[str] = []
    ignore_missing = bool(helm.get("ignoreMissingValueFiles"))
    for value_file in helm.get("valueFiles") or []:
        if not str(value_file).startswith("$"):
            rewritten.append(value_file)
            continue
        name, _, path = str(value_file)[1:].partition("/")
        if name not in refs:
            known = ", ".join(sorted(refs)) or "none"
            raise RenderError(
                f"value file '{value_file}' names ${name}, but no source has ref: {name} "
                f"(refs: {known})"
            )
        rel = clean_path(path, f"value file '{value_file}'")
        data = refs[name].get(rel)
        if data is None:
            if ignore_missing:
                continue
            raise RenderError(f"value file '{value_file}' not found in the source with ref: {name}")
        target = posixpath.join(REFS_DIR, name, rel)
        out_files[posixpath.join(chart_path, target) if chart_path else target] = data
        digest.update(f"{value_file}\0".encode() + hashlib.sha256(data).digest())
        rewritten.append(target)
    if helm:
        helm["valueFiles"] = rewritten
        out_source["helm"] = helm
    return out_source, out_files, digest.hexdigest()[:16]
