"""From repository files and a source spec to the list of desired objects.

One entry point for the controller: detect the kind (explicit spec, then
kustomization file, then Chart.yaml, else plain manifests), render, and
either return every object in document order or raise one RenderError.
Namespaces are left as written; defaulting them is the engine's job.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tether.adapters.render.directory import render_directory
from tether.adapters.render.errors import RenderError
from tether.adapters.render.files import RepoFiles, clean_path, load_directory, under
from tether.adapters.render.helm import render_helm
from tether.adapters.render.kustomize import render_kustomize
from tether.adapters.render.source import RenderSource, detect_kind, parse_source
from tether.adapters.render.tree import names_under
from tether.engine.objects import Obj


def _path_exists(files: RepoFiles, path: str) -> bool:
    if not path or path in files:
        return True
    return bool(names_under(files, path + "/"))


def render(
    files: RepoFiles | str | Path,
    source: Mapping[str, Any] | RenderSource,
    *,
    app_name: str = "release",
    namespace: str = "default",
    helm_path: str | None = None,
    kubectl_path: str | None = None,
    allow_remote: bool = False,
) -> list[Obj]:
    """Render the application at ``source.path``.

    ``files`` is the whole repository at one commit (``{repo path: bytes}``,
    as ``RepoCache.read_tree(url, sha, "")`` returns) or the path of a
    checked-out repository. ``app_name`` is the default helm release name and
    ``namespace`` the one helm templates see.
    """
    spec = parse_source(source)
    repo_files: RepoFiles = load_directory(files) if isinstance(files, str | Path) else files
    app_path = clean_path(spec.path)
    if not _path_exists(repo_files, app_path):
        raise RenderError(f"path '{app_path}' not found in the repository at this revision")
    app_files = under(repo_files, app_path)
    top_level = {name for name in app_files if "/" not in name}
    kind = detect_kind(spec, top_level)
    if kind == "kustomize":
        return render_kustomize(
            repo_files,
            app_path,
            spec.kustomize,
            kubectl_path=kubectl_path,
            allow_remote=allow_remote,
        )
    if kind == "helm":
        return render_helm(
            repo_files,
            app_path,
            spec.helm,
            release_name=app_name,
            namespace=namespace,
            helm_path=helm_path,
        )
    return render_directory(app_files, spec.directory, app_path, repo_files)


def describe(source: Mapping[str, Any] | RenderSource, files: RepoFiles) -> str:
    """The kind a source renders as ("directory", "kustomize" or "helm")."""
    spec = parse_source(source)
    app_path = clean_path(spec.path)
    names = {posixpath.basename(n) for n in under(files, app_path) if "/" not in n}
    return detect_kind(spec, names)
