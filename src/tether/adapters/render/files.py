"""Repository files as a mapping, and materialising them for external tools.

Renders work on ``{repo-relative path: bytes}`` read from Git at one commit,
so the same code renders any commit without a checkout. A checked-out
directory is loaded into the same form, refusing links that leave it.
kustomize and helm need real files, so those get a private temporary copy.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from pathlib import Path

from tether.adapters.render.errors import RenderError
from tether.adapters.render.tree import names_under

RepoFiles = Mapping[str, bytes]


def clean_path(path: str, what: str = "path") -> str:
    """``path`` relative to the repository root; RenderError if it leaves the repository."""
    raw = (path or "").replace("\\", "/").strip()
    rel = posixpath.normpath(raw.lstrip("/")) if raw else "."
    if rel == ".." or rel.startswith("../"):
        raise RenderError(f"{what} '{path}' escapes the repository")
    return "" if rel == "." else rel


def under(files: RepoFiles, path: str) -> dict[str, bytes]:
    """Files below ``path``, keyed relative to it (a file path yields its base name)."""
    if not path:
        return dict(files)
    if path in files:
        return {posixpath.basename(path): files[path]}
    prefix = path + "/"
    return {name[len(prefix) :]: files[name] for name in names_under(files, prefix)}


def load_directory(root: str | Path) -> dict[str, bytes]:
    """Every file of a checked-out repository; links must stay inside ``root``."""
    base = Path(root).resolve()
    if not base.is_dir():
        raise RenderError(f"directory '{root}' does not exist")
    out: dict[str, bytes] = {}

    def walk(directory: Path, rel: str, chain: tuple[Path, ...]) -> None:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if entry.name == ".git":
                continue
            entry_rel = f"{rel}/{entry.name}" if rel else entry.name
            real = Path(entry.path).resolve()
            if real != base and base not in real.parents:
                target = os.readlink(entry.path) if entry.is_symlink() else str(real)
                raise RenderError(f"symlink '{entry_rel}' -> '{target}' escapes the repository")
            if real.is_dir():
                if real not in chain:
                    walk(real, entry_rel, (*chain, real))
            elif real.is_file():
                out[entry_rel] = real.read_bytes()

    walk(base, "", (base,))
    return out


def materialise(files: RepoFiles, target: Path) -> None:
    """Write ``files`` below ``target`` (a fresh temporary directory)."""
    for name, data in files.items():
        rel = clean_path(name, "file")
        if not rel:
            continue
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)


def trim_tool_output(text: str, tmp: Path, secrets: list[str], limit: int = 2000) -> str:
    """A tool's stderr made short, repository-relative and free of secret values."""
    text = text.replace(str(tmp) + "/", "").replace(str(tmp), ".")
    for secret in secrets:
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 15] + " ... (trimmed)"
