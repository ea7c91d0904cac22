"""Edit YAML scalars in place: find each scalar's exact characters, replace only those.

ruamel.yaml's round-trip parser gives the line and column of every scalar
value; the token is measured on that line (quoted or plain) and replaced with
the new text in the same quote style. A plain value gets double quotes only if
the new text would otherwise read as something else (a number, a boolean, a
mapping). Every edited file is parsed again and each edited path must read
back as the new value, or the edit is refused. Nothing else in the file moves:
comments, key order, indentation and blank lines stay as they were.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

# ruamel.yaml (about 2 MiB) is imported when a write-back edits a file, not by every
# controller that never automates an image.

Path = tuple[str | int, ...]


class EditError(ValueError):
    """A file cannot be edited safely; the message names the file and why."""


@dataclass(frozen=True)
class Change:
    """One replaced or added piece of text (what the dry run and the commit list)."""

    line: int  # 1-based
    old: str
    new: str
    where: str  # "marker", "kustomize", "helm"


@dataclass(frozen=True)
class FileEdit:
    """A whole file before and after its edits."""

    path: str
    before: str
    after: str
    changes: tuple[Change, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Scalar:
    """A scalar value: where it is in the document and in the text."""

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
        raise EditError("multi-line quoted scalars are not edited")
    if quote == "'":
        i = col + 1
        while i < len(text):
            if text[i] == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    i += 2
                    continue
                return i + 1
            i += 1
        raise EditError("multi-line quoted scalars are not edited")
    comment = re.search(r"\s#", text[col:])
    end = col + comment.start() if comment else len(text)
    while end > col and text[end - 1] in " \t":
        end -= 1
    return end


def walk(node: Any, path: Path) -> Iterator[tuple[Path, Any, tuple[int, int] | None]]:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        for key, value in node.items():
            pos = node.lc.value(key) if not isinstance(value, CommentedMap | CommentedSeq) else None
            yield (*path, str(key)), value, pos
            yield from walk(value, (*path, str(key)))
    elif isinstance(node, CommentedSeq):
        for index, value in enumerate(node):
            pos = (
                node.lc.item(index) if not isinstance(value, CommentedMap | CommentedSeq) else None
            )
            yield (*path, index), value, pos
            yield from walk(value, (*path, index))


def load(path: str, text: str) -> list[Any]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return list(YAML(typ="rt").load_all(text))
    except YAMLError as exc:
        raise EditError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None


def scalars(path: str, text: str) -> Iterator[tuple[int, Scalar]]:
    """(document index, scalar) for every scalar value with its exact span."""
    lines = text.split("\n")
    for doc_index, doc in enumerate(load(path, text)):
        for node_path, _value, pos in walk(doc, ()):
            if pos is None:
                continue
            line, col = pos
            end = _token_end(lines[line], col)
            yield doc_index, Scalar(node_path, line, col, end, lines[line][col:end])


def render(token: str, new: str) -> str:
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


class Editor:
    """Collects span replacements on one file and applies them together."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.lines = text.split("\n")
        self.spans: list[tuple[Scalar, str, str]] = []
        self.inserts: list[tuple[int, str, str]] = []  # (after 0-based line, text, where)
        self.expect: list[tuple[int, Path, str]] = []

    def replace(self, doc: int, scalar: Scalar, new: str, where: str) -> None:
        self.expect.append((doc, scalar.path, new))
        if plain(scalar.token) == new:
            return
        self.spans.append((scalar, render(scalar.token, new), where))

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
            raise EditError(f"{self.path}: the edit would break the YAML: {exc}") from None
        for doc, path, new in self.expect:
            node: Any = docs[doc] if doc < len(docs) else None
            for part in path:
                try:
                    node = node[part]
                except (KeyError, IndexError, TypeError):
                    node = None
                    break
            if node != new:
                raise EditError(f"{self.path}: the edit of {dotted(path)} did not read back")


def plain(token: str) -> str:
    if token.startswith('"'):
        return str(json.loads(token))
    if token.startswith("'"):
        return token[1:-1].replace("''", "'")
    return token


def dotted(path: Path) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path)
