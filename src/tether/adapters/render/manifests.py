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


def _yaml_documents(text: str, file: str) -> list[tuple[int, int, Any]]:
    """(document number from 1, first line, data) for every document in ``text``."""
    loader = _ManifestLoader(text)
    docs: list[tuple[int, int, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            docs.append((len(docs) + 1, node.start_mark.line + 1, data))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line = mark.line + 1 if mark else None
        column = f", column {mark.column + 1}" if mark else ""
        raise RenderError(f"invalid YAML: {problem}{column}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise RenderError(f"invalid YAML: {type(exc).__name__}", file=file) from None
    finally:
        loader.dispose()
    return docs


def parse_documents(data: bytes | str, file: str) -> list[tuple[int, int, Any]]:
    """Documents of one YAML or JSON file; empty documents are dropped."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise RenderError("not UTF-8 text", file=file) from None
    if file.lower().endswith(".json"):
        if not text.strip():
            return []
        try:
            return [(1, 1, json.loads(text))]
        except json.JSONDecodeError as exc:
            raise RenderError(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno) from None
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
    if not isinstance(meta.get("name"), str) or not meta["name"]:
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
        if key in seen:
            group = f" ({key.group})" if key.group else ""
            where = f"{seen[key]} and {file}" if seen[key] != file else f"{file} (twice)"
            raise RenderError(f"duplicate object {key}{group} in {where}", file=file)
        seen[key] = file
