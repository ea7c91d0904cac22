"""Plain directories of YAML and JSON manifests, with Argo CD's include/exclude globs.

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
from tether.adapters.render.files import RepoFiles
from tether.adapters.render.manifests import check_duplicates, is_manifest_file, objects_from_file
from tether.adapters.render.source import DirectoryOptions
from tether.engine.objects import Obj

_BRACES = re.compile(r"\{([^{}]*)\}")


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
        if not is_manifest_file(rel):
            continue
        if options.include and not glob_matches(options.include, rel):
            continue
        if options.exclude and glob_matches(options.exclude, rel):
            continue
        chosen.append(rel)
    return chosen


def render_directory(app_files: RepoFiles, options: DirectoryOptions, app_path: str) -> list[Obj]:
    """Objects of every selected manifest; file names in errors are repository paths."""
    located: list[tuple[str, Obj]] = []
    total = 0
    for rel in selected_files(app_files, options):
        file = posixpath.join(app_path, rel) if app_path else rel
        total += len(app_files[rel])
        limits.check_rendered_size(total, app_path or ".")
        located.extend((file, obj) for obj in objects_from_file(app_files[rel], file))
        limits.check_object_count(len(located), app_path or ".")
    check_duplicates(located)
    return [obj for _, obj in located]
