"""Where a chosen tag goes in Git, and the exact text edit that puts it there.

Three write-back styles are understood:

* **Setter markers** (Flux): a line comment ``# {"$imagepolicy": "ns:name"}``
  after a scalar; the value becomes ``image:tag``. ``ns:name:tag`` writes the
  tag only, ``ns:name:name`` the image name only, ``ns:name:digest`` the digest.
* **Kustomize** (Argo CD Image Updater): the ``images:`` entry of a
  kustomization whose ``name`` is the image gets ``newTag`` (and ``digest``
  with digest pinning); a missing entry or key is added.
* **Helm values** (Argo CD Image Updater): a dotted key (``image.tag``) in a
  values file.

Files are not re-serialised: ``yamledit`` replaces only the characters of
each value, so comments, key order, indentation, blank lines and the marker
itself stay as they were, and checks that every edit reads back.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tether.engine.images.yamledit import (
    Change,
    EditError,
    Editor,
    FileEdit,
    Path,
    load,
    render,
    scalars,
    walk,
)

__all__ = [
    "Change",
    "FileEdit",
    "MarkerError",
    "Target",
    "is_yaml",
    "marker_of",
    "plan_helm",
    "plan_kustomize",
    "plan_markers",
    "unified_diff",
]

MARKER_KEY = "$imagepolicy"
_MARKER = re.compile(r"^\s+#\s*(\{.*\})\s*$")
_YAML_SUFFIXES = (".yaml", ".yml")


MarkerError = EditError  # the name callers catch


@dataclass(frozen=True)
class Target:
    """What the policy wants written: ``image:tag`` (``digest`` with pinning)."""

    namespace: str
    policy: str
    image: str
    tag: str
    digest: str = ""
    pin_digest: bool = False

    @property
    def ref(self) -> str:
        return f"{self.namespace}:{self.policy}"

    def value(self, part: str = "") -> str:
        if part == "tag":
            return f"{self.tag}@{self.digest}" if self.pin_digest and self.digest else self.tag
        if part == "name":
            return self.image
        if part == "digest":
            return self.digest
        full = f"{self.image}:{self.tag}"
        return f"{full}@{self.digest}" if self.pin_digest and self.digest else full


# ---------------------------------------------------------------- setter markers


def marker_of(rest_of_line: str) -> tuple[str, str] | None:
    """(policy ``ns:name``, part) from the text after a scalar, or None."""
    match = _MARKER.match(rest_of_line)
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except ValueError:
        return None
    ref = data.get(MARKER_KEY) if isinstance(data, dict) else None
    if not isinstance(ref, str):
        return None
    parts = ref.split(":")
    if len(parts) == 3 and parts[2] in ("tag", "name", "digest"):
        return f"{parts[0]}:{parts[1]}", parts[2]
    if len(parts) == 2:
        return ref, ""
    return None


def _markers(editor: Editor, target: Target) -> None:
    for doc, scalar in scalars(editor.path, editor.text):
        found = marker_of(editor.lines[scalar.line][scalar.end :])
        if found is None or found[0] != target.ref:
            continue
        if found[1] == "digest" and not target.digest:
            raise MarkerError(f"{editor.path}:{scalar.line + 1}: no digest known for the tag")
        editor.replace(doc, scalar, target.value(found[1]), "marker")


# ---------------------------------------------------------------- kustomize images


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _last_line(node: Any, fallback: int) -> int:
    last = fallback
    for _path, _value, pos in walk(node, ()):
        if pos is not None:
            last = max(last, pos[0])
    return last


def _kustomize(editor: Editor, target: Target, name: str) -> None:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq  # see yamledit

    docs = load(editor.path, editor.text)
    by_path = {(d, s.path): s for d, s in scalars(editor.path, editor.text)}
    want = {"newTag": target.tag}
    if target.pin_digest and target.digest:
        want["digest"] = target.digest
    for doc_index, doc in enumerate(docs):
        if not isinstance(doc, CommentedMap):
            continue
        images = doc.get("images")
        if images is None:
            added = "\n".join(
                ["images:", f"- name: {render('', name)}"]
                + [f"  {k}: {render('', v)}" for k, v in want.items()]
            )
            last = max(i for i, row in enumerate(editor.lines) if row.strip() or i == 0)
            editor.insert_after(last, added, "kustomize")
            return
        if not isinstance(images, CommentedSeq):
            raise MarkerError(f"{editor.path}: images is not a list")
        for index, entry in enumerate(images):
            if not isinstance(entry, CommentedMap) or entry.get("name") != name:
                continue
            if entry.fa.flow_style():
                raise MarkerError(f"{editor.path}: images entry {name!r} is in flow style")
            key_line, key_col = entry.lc.key("name")
            missing = []
            for key, value in want.items():
                found = by_path.get((doc_index, ("images", index, key)))
                if found is not None:
                    editor.replace(doc_index, found, value, "kustomize")
                else:
                    missing.append(f"{' ' * key_col}{key}: {render('', value)}")
            if missing:
                editor.insert_after(_last_line(entry, key_line), "\n".join(missing), "kustomize")
            return
        first_line = images.lc.item(0)[0] if images else doc.lc.key("images")[0]
        dash = " " * _indent_of(editor.lines[first_line]) if images else ""
        entry_lines = [f"{dash}- name: {render('', name)}"] + [
            f"{dash}  {k}: {render('', v)}" for k, v in want.items()
        ]
        editor.insert_after(
            _last_line(images, doc.lc.key("images")[0]), "\n".join(entry_lines), "kustomize"
        )
        return
    raise MarkerError(f"{editor.path}: no kustomization document")


# ---------------------------------------------------------------- helm values


def _helm(editor: Editor, key: str, value: str) -> None:
    path: Path = tuple(key.split("."))
    for doc, scalar in scalars(editor.path, editor.text):
        if doc == 0 and scalar.path == path:
            editor.replace(doc, scalar, value, "helm")
            return
    raise MarkerError(f"{editor.path}: no scalar at {key} (the key must exist)")


# ---------------------------------------------------------------- planning


def is_yaml(path: str) -> bool:
    return path.lower().endswith(_YAML_SUFFIXES)


def plan_markers(files: Mapping[str, str], target: Target) -> list[FileEdit]:
    """Edits for every setter marker naming ``target``'s policy in ``files``."""
    edits = []
    for path in sorted(files):
        text = files[path]
        if not is_yaml(path) or MARKER_KEY not in text or target.ref not in text:
            continue
        editor = Editor(path, text)
        _markers(editor, target)
        edit = editor.result()
        if edit is not None:
            edits.append(edit)
    return edits


def plan_kustomize(path: str, text: str, target: Target, name: str = "") -> FileEdit | None:
    editor = Editor(path, text)
    _kustomize(editor, target, name or target.image)
    return editor.result()


def plan_helm(
    path: str, text: str, target: Target, tag_key: str, name_key: str = ""
) -> FileEdit | None:
    editor = Editor(path, text)
    _helm(editor, tag_key, target.value("tag"))
    if name_key:
        _helm(editor, name_key, target.image)
    return editor.result()


def unified_diff(edits: list[FileEdit]) -> str:
    """The change as ``git diff`` would show it (the dry-run output)."""
    out: list[str] = []
    for edit in edits:
        out.extend(
            difflib.unified_diff(
                edit.before.splitlines(keepends=True),
                edit.after.splitlines(keepends=True),
                f"a/{edit.path}",
                f"b/{edit.path}",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)
