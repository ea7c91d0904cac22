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

Files are not re-serialised. ruamel.yaml's round-trip parser finds each scalar
and its position; only the characters of that scalar are replaced, so
comments, key order, indentation, blank lines and the marker itself stay as
they were. The quote style is kept; a plain scalar gets double quotes only if
the new text would otherwise read as a number or boolean. Every edited file
is parsed again and the edited values are checked before the edit is
accepted.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

MARKER_KEY = "$imagepolicy"
_MARKER = re.compile(r"^\s+#\s*(\{.*\})\s*$")
_YAML_SUFFIXES = (".yaml", ".yml")

Path = tuple[str | int, ...]


class MarkerError(ValueError):
    """A file cannot be edited safely; the message names the file and why."""


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


@dataclass(frozen=True)
class Change:
    line: int  # 1-based
    old: str
    new: str
    where: str  # "marker", "kustomize", "helm"


@dataclass(frozen=True)
class FileEdit:
    path: str
    before: str
    after: str
    changes: tuple[Change, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------- scalars in text


@dataclass(frozen=True)
class _Scalar:
    path: Path
    line: int  # 0-based
    col: int
    end: int  # column after the token
    token: str


def _token_end(text: str, col: int) -> int:
    """Column after the scalar token starting at ``col`` on one line."""
    if col >= len(text):
        return col
    quote = text[col]
    if quote == '"':
        i = col + 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                return i + 1
            i += 1
        raise MarkerError("multi-line quoted scalars are not edited")
    if quote == "'":
        i = col + 1
        while i < len(text):
            if text[i] == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    i += 2
                    continue
                return i + 1
            i += 1
        raise MarkerError("multi-line quoted scalars are not edited")
    comment = re.search(r"\s#", text[col:])
    end = col + comment.start() if comment else len(text)
    while end > col and text[end - 1] in " \t":
        end -= 1
    return end


def _walk(node: Any, path: Path) -> Iterator[tuple[Path, Any, tuple[int, int] | None]]:
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            pos = node.lc.value(key) if not isinstance(value, CommentedMap | CommentedSeq) else None
            yield (*path, str(key)), value, pos
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, CommentedSeq):
        for index, value in enumerate(node):
            pos = (
                node.lc.item(index) if not isinstance(value, CommentedMap | CommentedSeq) else None
            )
            yield (*path, index), value, pos
            yield from _walk(value, (*path, index))


def _load(path: str, text: str) -> list[Any]:
    try:
        return list(YAML(typ="rt").load_all(text))
    except YAMLError as exc:
        raise MarkerError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None


def _scalars(path: str, text: str) -> Iterator[tuple[int, _Scalar]]:
    """(document index, scalar) for every scalar value with its exact span."""
    lines = text.split("\n")
    for doc_index, doc in enumerate(_load(path, text)):
        for node_path, _value, pos in _walk(doc, ()):
            if pos is None:
                continue
            line, col = pos
            end = _token_end(lines[line], col)
            yield doc_index, _Scalar(node_path, line, col, end, lines[line][col:end])


def _render(token: str, new: str) -> str:
    """``new`` in the quote style of ``token``."""
    if token.startswith('"'):
        return json.dumps(new)
    if token.startswith("'"):
        return "'" + new.replace("'", "''") + "'"
    try:
        reads_as = yaml.safe_load(new)
    except yaml.YAMLError:
        reads_as = None
    if reads_as == new and not re.search(r":\s|\s#|^[\[\]{}&*!|>%@`'\"]", new):
        return new
    return json.dumps(new)


class _Editor:
    """Collects span replacements on one file and applies them together."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.lines = text.split("\n")
        self.spans: list[tuple[_Scalar, str, str]] = []
        self.inserts: list[tuple[int, str, str]] = []  # (after 0-based line, text, where)
        self.expect: list[tuple[int, Path, str]] = []

    def replace(self, doc: int, scalar: _Scalar, new: str, where: str) -> None:
        self.expect.append((doc, scalar.path, new))
        if _plain(scalar.token) == new:
            return
        self.spans.append((scalar, _render(scalar.token, new), where))

    def insert_after(self, line: int, text: str, where: str) -> None:
        self.inserts.append((line, text, where))

    def result(self) -> FileEdit | None:
        if not self.spans and not self.inserts:
            return None
        lines = list(self.lines)
        changes = []
        for scalar, rendered, where in sorted(self.spans, key=lambda s: (s[0].line, -s[0].col)):
            row = lines[scalar.line]
            lines[scalar.line] = row[: scalar.col] + rendered + row[scalar.end :]
            changes.append(Change(scalar.line + 1, scalar.token, rendered, where))
        for line, added, where in sorted(self.inserts, key=lambda i: -i[0]):
            lines[line + 1 : line + 1] = added.split("\n")
            changes.append(Change(line + 2, "", added, where))
        after = "\n".join(lines)
        self._verify(after)
        return FileEdit(self.path, self.text, after, tuple(sorted(changes, key=lambda c: c.line)))

    def _verify(self, after: str) -> None:
        try:
            docs = list(yaml.safe_load_all(after))
        except yaml.YAMLError as exc:
            raise MarkerError(f"{self.path}: the edit would break the YAML: {exc}") from None
        for doc, path, new in self.expect:
            node: Any = docs[doc] if doc < len(docs) else None
            for part in path:
                try:
                    node = node[part]
                except (KeyError, IndexError, TypeError):
                    node = None
                    break
            if node != new:
                raise MarkerError(f"{self.path}: the edit of {_dotted(path)} did not read back")


def _plain(token: str) -> str:
    if token.startswith('"'):
        return str(json.loads(token))
    if token.startswith("'"):
        return token[1:-1].replace("''", "'")
    return token


def _dotted(path: Path) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path)


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


def _markers(editor: _Editor, target: Target) -> None:
    for doc, scalar in _scalars(editor.path, editor.text):
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
    for _path, _value, pos in _walk(node, ()):
        if pos is not None:
            last = max(last, pos[0])
    return last


def _kustomize(editor: _Editor, target: Target, name: str) -> None:
    docs = _load(editor.path, editor.text)
    scalars = {(d, s.path): s for d, s in _scalars(editor.path, editor.text)}
    want = {"newTag": target.tag}
    if target.pin_digest and target.digest:
        want["digest"] = target.digest
    for doc_index, doc in enumerate(docs):
        if not isinstance(doc, CommentedMap):
            continue
        images = doc.get("images")
        if images is None:
            added = "\n".join(
                ["images:", f"- name: {_render('', name)}"]
                + [f"  {k}: {_render('', v)}" for k, v in want.items()]
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
                found = scalars.get((doc_index, ("images", index, key)))
                if found is not None:
                    editor.replace(doc_index, found, value, "kustomize")
                else:
                    missing.append(f"{' ' * key_col}{key}: {_render('', value)}")
            if missing:
                editor.insert_after(_last_line(entry, key_line), "\n".join(missing), "kustomize")
            return
        first_line = images.lc.item(0)[0] if images else doc.lc.key("images")[0]
        dash = " " * _indent_of(editor.lines[first_line]) if images else ""
        entry_lines = [f"{dash}- name: {_render('', name)}"] + [
            f"{dash}  {k}: {_render('', v)}" for k, v in want.items()
        ]
        editor.insert_after(
            _last_line(images, doc.lc.key("images")[0]), "\n".join(entry_lines), "kustomize"
        )
        return
    raise MarkerError(f"{editor.path}: no kustomization document")


# ---------------------------------------------------------------- helm values


def _helm(editor: _Editor, key: str, value: str) -> None:
    path: Path = tuple(key.split("."))
    for doc, scalar in _scalars(editor.path, editor.text):
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
        editor = _Editor(path, text)
        _markers(editor, target)
        edit = editor.result()
        if edit is not None:
            edits.append(edit)
    return edits


def plan_kustomize(path: str, text: str, target: Target, name: str = "") -> FileEdit | None:
    editor = _Editor(path, text)
    _kustomize(editor, target, name or target.image)
    return editor.result()


def plan_helm(
    path: str, text: str, target: Target, tag_key: str, name_key: str = ""
) -> FileEdit | None:
    editor = _Editor(path, text)
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
