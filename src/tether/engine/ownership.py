"""Who changed a field: read ownership from an object's managedFields.

Self-heal events name the field manager that made the change (``kubectl-patch``,
``kubectl (scale subresource)``...), so a reverted edit can be traced to a
person or a tool without guessing.
"""

from __future__ import annotations

from typing import Any

from tether.engine.diff import pointer_parts
from tether.engine.objects import Obj


def field_managers(live: Obj, paths: list[str], *, ignore: str) -> list[str]:
    """Who changed ``paths``: the field managers owning them (or, failing that, the latest writers).

    A manager is named with its subresource when it wrote through one
    (``kubectl (scale subresource)``), since ``kubectl scale`` has no field
    manager name of its own.
    """
    entries = [
        e
        for e in (live.get("metadata") or {}).get("managedFields") or []
        if e.get("manager") not in (ignore, "") and e.get("subresource", "") != "status"
    ]
    entries.sort(key=lambda e: e.get("time", ""), reverse=True)
    owners = [
        e for e in entries if any(owns(e.get("fieldsV1") or {}, pointer_parts(p)) for p in paths)
    ]
    if not owners:
        owners = [e for e in entries if e.get("operation") == "Update"][:2]
    names: list[str] = []
    for e in owners:
        name = str(e["manager"])
        if e.get("subresource"):
            name += f" ({e['subresource']} subresource)"
        if name not in names:
            names.append(name)
    return names


def owns(fields: dict[str, Any], parts: list[str]) -> bool:
    """Does a fieldsV1 set own the field at ``parts`` (or a list item on the way to it)?"""
    node: Any = fields
    for part in parts:
        if not isinstance(node, dict):
            return False
        if f"f:{part}" in node:
            node = node[f"f:{part}"]
            continue
        # an item of an associative list: owned per item, good enough here
        return part.isdigit() and any(k.startswith(("k:", "i:", "v:")) for k in node)
    return True
