"""Plain directories of YAML and JSON manifests, with Argo CD's include/exclude globs.

``*.jsonnet`` files are evaluated too (``jsonnet``). A directory that renders
no object but holds files Tether cannot read (``.libsonnet`` alone, CUE,
templates of a tool it does not run, manifests only in subdirectories without
``recurse``) is an error naming those files: an empty render must never look
like a successful deploy of nothing. Documentation files do not count.

``include`` and ``exclude`` are globs matched against the path relative to
the application directory (or the bare file name), and may be brace lists
such as ``{deployment.yaml,service.yaml}``. Files that are not manifests
(README, scripts, ...) are skipped silently; manifests are read in path order
and their objects returned in document order.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re

from tether.adapters.render import limits
from tether.adapters.render.errors import RenderError
from tether.adapters.render.files import RepoFiles
from tether.adapters.render.jsonnet import is_jsonnet_file, render_jsonnet
from tether.adapters.render.manifests import check_duplicates, is_manifest_file, objects_from_file
from tether.adapters.render.source import DirectoryOptions
from tether.engine.objects import Obj

_BRACES = re.compile(r"\{([^{}]*)\}")
_DOCUMENTATION = re.compile(
    r"(^|/)(\.[^/]*|readme[^/]*|license[^/]*|licence[^/]*|notice[^/]*|owners[^/]*"
    r"|changelog[^/]*|[^/]*\.(md|markdown|txt|rst|adoc))$",
    re.IGNORECASE,
)
MAX_NAMED_FILES = 10


def expand_braces(pattern: str) -> list[str]:
    """``a/{b,c}.yaml`` -> ``["a/b.yaml", "a/c.yaml"]`` (nested braces expand too)."""
    match = _BRACES.search(pattern)
    if not match:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    out: list[str] = []
    for choice in match.group(1).split(","):
        out.extend(expand_braces(head + choice + tail))
    return out


def glob_matches(pattern: str, rel_path: str) -> bool:
    name = posixpath.basename(rel_path)
    return any(
        fnmatch.fnmatchcase(rel_path, alt) or fnmatch.fnmatchcase(name, alt)
        for alt in expand_braces(pattern.strip())
        if alt
    )


def selected_files(app_files: RepoFiles, options: DirectoryOptions) -> list[str]:
    """Manifest files of the app directory that the options select, in path order."""
    chosen = []
    for rel in sorted(app_files):
        if not options.recurse and "/" in rel:
            continue
        if not (is_manifest_file(rel) or is_jsonnet_file(rel)):
            continue
        if options.include and not glob_matches(options.include, rel):
            continue
        if options.exclude and glob_matches(options.exclude, rel):
            continue
        chosen.append(rel)
    return chosen


def render_directory(
    app_files: RepoFiles,
    options: DirectoryOptions,
    app_path: str,
    repo_files: RepoFiles | None = None,
) -> list[Obj]:
    """Objects of every selected manifest; file names in errors are repository paths."""
    located: list[tuple[str, Obj]] = []
    total = 0
    jsonnet: list[str] = []
    for rel in selected_files(app_files, options):
        file = posixpath.join(app_path, rel) if app_path else rel
        if is_jsonnet_file(rel):
            jsonnet.append(file)
            continue
        # Name the file that takes the render over a limit: that is where to look.
        total += len(app_files[rel])
        limits.check_rendered_size(total, file)
        located.extend((file, obj) for obj in objects_from_file(app_files[rel], file))
        limits.check_object_count(len(located), file)
    located.extend(
        render_jsonnet(repo_files or _rooted(app_files, app_path), jsonnet, options.jsonnet)
    )
    limits.check_object_count(len(located), app_path or ".")
    check_duplicates(located)
    if not located:
        check_not_silently_empty(app_files, options, app_path)
    return [obj for _, obj in located]


def _rooted(app_files: RepoFiles, app_path: str) -> dict[str, bytes]:
    return {posixpath.join(app_path, rel) if app_path else rel: d for rel, d in app_files.items()}


def unreadable_files(app_files: RepoFiles, options: DirectoryOptions) -> list[str]:
    """App-relative files the render skipped that are neither documentation nor excluded."""
    out = []
    for rel in sorted(app_files):
        if not options.recurse and "/" in rel:
            continue
        if is_manifest_file(rel) or is_jsonnet_file(rel) or _DOCUMENTATION.search(rel):
            continue
        if options.exclude and glob_matches(options.exclude, rel):
            continue
        out.append(rel)
    return out


def check_not_silently_empty(
    app_files: RepoFiles, options: DirectoryOptions, app_path: str
) -> None:
    """RenderError when an empty render hides files Tether skipped."""
    where = app_path or "the repository root"
    unread = unreadable_files(app_files, options)
    if unread:
        raise RenderError(
            f"path '{where}' rendered no objects, but holds files Tether cannot read as "
            f"manifests: {_names(unread, app_path)} (Tether reads .yaml, .yml, .json and "
            ".jsonnet; .libsonnet files are only imported)"
        )
    nested = [r for r in sorted(app_files) if "/" in r and not _DOCUMENTATION.search(r)]
    if not options.recurse and any(is_manifest_file(r) or is_jsonnet_file(r) for r in nested):
        raise RenderError(
            f"path '{where}' rendered no objects; its manifests are in subdirectories "
            f"({_names(nested, app_path)}): set directory.recurse to read them"
        )


def _names(rels: list[str], app_path: str) -> str:
    shown = [posixpath.join(app_path, r) if app_path else r for r in rels[:MAX_NAMED_FILES]]
    more = f" and {len(rels) - MAX_NAMED_FILES} more" if len(rels) > MAX_NAMED_FILES else ""
    return ", ".join(shown) + more
