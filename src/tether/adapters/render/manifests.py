"""Parsing manifests (YAML and JSON) into objects and checking them.

A render is all or nothing: one bad document fails the whole render with a
message naming the file, line and document, because applying a partial set of
objects (and pruning the rest) would be far worse than applying nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import yaml

from tether.adapters.render import limits
from tether.adapters.render.errors import RenderError
from tether.engine.objects import Obj, ObjectKey, key_of

_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ManifestLoader(_BaseLoader):  # type: ignore[misc]
    """Safe loading, but timestamps stay strings as the API server would see them."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def is_manifest_file(path: str) -> bool:
    return path.lower().endswith(MANIFEST_SUFFIXES)


class _NodeBudget:
    """Counts the nodes of a file as if every alias were expanded, without expanding them.

    The composer shares one node for an anchor and all its aliases, so an
    alias bomb is small in memory until something walks it; sizes and heights
    are memoised per node, which makes the count linear in the file.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.nodes = 0
        self.aliases = 0
        self._memo: dict[int, tuple[int, int]] = {}
        self._active: set[int] = set()

    def _fail(self, what: str, limit: int, node: yaml.Node) -> RenderError:
        return RenderError(
            f"YAML {what} (limit {limit}, counting every alias as expanded)",
            self.file,
            node.start_mark.line + 1 if node.start_mark else None,
        )

    def add_document(self, node: yaml.Node) -> None:
        size, _ = self._measure(node, 1)
        self.nodes += size
        if self.nodes > limits.MAX_YAML_NODES:
            raise self._fail("has too many nodes", limits.MAX_YAML_NODES, node)

    def _measure(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        """(expanded node count, height) of ``node`` found at nesting ``depth``."""
        key = id(node)
        known = self._memo.get(key)
        if known is not None:
            self.aliases += 1
            if self.aliases > limits.MAX_YAML_ALIASES:
                raise self._fail("uses too many aliases", limits.MAX_YAML_ALIASES, node)
            if depth + known[1] - 1 > limits.MAX_YAML_DEPTH:
                raise self._fail("is nested too deeply", limits.MAX_YAML_DEPTH, node)
            return known
        if depth > limits.MAX_YAML_DEPTH:
            raise self._fail("is nested too deeply", limits.MAX_YAML_DEPTH, node)
        if key in self._active:
            raise RenderError("YAML alias refers to itself (recursive structure)", self.file)
        size, height = 1, 1
        if isinstance(node, yaml.MappingNode):
            self._check_unique_keys(node)
        if isinstance(node, yaml.SequenceNode | yaml.MappingNode):
            self._active.add(key)
            children: list[yaml.Node] = (
                list(node.value)
                if isinstance(node, yaml.SequenceNode)
                else [part for pair in node.value for part in pair]
            )
            for child in children:
                child_size, child_height = self._measure(child, depth + 1)
                size += child_size
                height = max(height, child_height + 1)
                if self.nodes + size > limits.MAX_YAML_NODES:
                    raise self._fail("has too many nodes", limits.MAX_YAML_NODES, node)
            self._active.discard(key)
        self._memo[key] = (size, height)
        return size, height

    def _check_unique_keys(self, node: yaml.MappingNode) -> None:
        """A key written twice: which value was meant cannot be known, so refuse the file
        rather than let the last value win silently (Argo CD, Flux and kustomize refuse it too)."""
        seen: dict[tuple[str, str], int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            line = key.start_mark.line + 1 if key.start_mark else 0
            first = seen.get((key.tag, key.value))
            if first is not None:
                raise RenderError(
                    f"invalid YAML: mapping key {key.value[:60]!r} already defined at line {first}",
                    self.file,
                    line,
                )
            seen[(key.tag, key.value)] = line


def _yaml_documents(text: str, file: str) -> list[tuple[int, int, Any]]:
    """(document number from 1, first line, data) for every document in ``text``.

    Every document is measured (nodes with aliases expanded, aliases, depth)
    before it is constructed, so a bomb fails here, cheaply, naming the limit.
    """
    loader = _ManifestLoader(text)
    docs: list[tuple[int, int, Any]] = []
    budget = _NodeBudget(file)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            budget.add_document(node)
            data = loader.construct_document(node)
            docs.append((len(docs) + 1, node.start_mark.line + 1, data))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line = mark.line + 1 if mark else None
        column = f", column {mark.column + 1}" if mark else ""
        raise RenderError(f"invalid YAML: {problem}{column}", file=file, line=line) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        raise RenderError(
            f"invalid YAML: {exc.reason} (character #x{exc.character:04x}), column {column}",
            file=file,
            line=line,
        ) from None
    except yaml.YAMLError as exc:
        raise RenderError(f"invalid YAML: {type(exc).__name__}", file=file) from None
    finally:
        loader.dispose()
    return docs


def parse_documents(data: bytes | str, file: str) -> list[tuple[int, int, Any]]:
    """Documents of one YAML or JSON file; empty documents are dropped."""
    limits.check_file_size(data, file)
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        assert isinstance(data, bytes)
        line = data.count(b"\n", 0, exc.start) + 1
        raise RenderError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", file, line
        ) from None
    if file.lower().endswith(".json"):
        text = text.removeprefix("\ufeff")  # as YAML allows, and editors on Windows write
        if not text.strip():
            return []
        try:
            return [(1, 1, json.loads(text))]
        except json.JSONDecodeError as exc:
            raise RenderError(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno) from None
        except RecursionError:
            raise RenderError(
                f"JSON is nested too deeply (limit {limits.MAX_YAML_DEPTH})", file=file
            ) from None
    return [doc for doc in _yaml_documents(text, file) if doc[2] is not None]


def _check_object(obj: Any, file: str, where: str, line: int) -> Obj:
    if not isinstance(obj, dict):
        raise RenderError(f"{where} is not a mapping (got {type(obj).__name__})", file, line)
    for field in ("apiVersion", "kind"):
        if not isinstance(obj.get(field), str) or not obj[field]:
            raise RenderError(f"{where} has no {field}", file, line)
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise RenderError(f"{where} ({obj['kind']}) has no metadata", file, line)
    generated = isinstance(meta.get("generateName"), str) and bool(meta["generateName"])
    if (not isinstance(meta.get("name"), str) or not meta["name"]) and not generated:
        # generateName is for hooks: the API server names each one a sync creates.
        raise RenderError(f"{where} ({obj['kind']}) has no metadata.name", file, line)
    if meta.get("namespace") is not None and not isinstance(meta["namespace"], str):
        raise RenderError(f"{where} has a metadata.namespace that is not a string", file, line)
    return obj


def _is_list(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("kind"), str)
        and obj["kind"].endswith("List")
        and isinstance(obj.get("items"), list)
    )


def objects_from_documents(docs: Iterable[tuple[int, int, Any]], file: str) -> list[Obj]:
    """Checked objects in document order, ``List`` kinds flattened into their items."""
    out: list[Obj] = []
    for number, line, data in docs:
        where = f"document {number}"
        if _is_list(data):
            for item_no, item in enumerate(data["items"], start=1):
                if item is None:
                    continue
                out.append(_check_object(item, file, f"{where}, item {item_no}", line))
            continue
        out.append(_check_object(data, file, where, line))
    return out


def objects_from_file(data: bytes | str, file: str) -> list[Obj]:
    return objects_from_documents(parse_documents(data, file), file)


def check_duplicates(objects: Iterable[tuple[str, Obj]]) -> None:
    """Fail on two objects with the same group, kind, namespace and name."""
    seen: dict[ObjectKey, str] = {}
    for file, obj in objects:
        key = key_of(obj)
        if not key.name:
            continue  # generateName: each one a sync creates gets a name of its own
        if key in seen:
            group = f" ({key.group})" if key.group else ""
            where = f"{seen[key]} and {file}" if seen[key] != file else f"{file} (twice)"
            raise RenderError(f"duplicate object {key}{group} in {where}", file=file)
        seen[key] = file
