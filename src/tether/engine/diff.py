"""Is the live object what Git wants? Compare without noise.

The desired side is the API server's own answer to a server-side-apply dry
run, so defaults, admission mutations and field ownership are the server's,
not guesses. What remains to strip is bookkeeping (managedFields,
resourceVersion, status...) and what the user told us to ignore. Secret
values are masked before anything leaves this module.
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from tether.engine.objects import Obj, ObjectKey, group_of, key_of

SERVER_METADATA = (
    "managedFields",
    "resourceVersion",
    "generation",
    "uid",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
SERVER_ANNOTATIONS = (
    "deployment.kubernetes.io/revision",
    "kubectl.kubernetes.io/last-applied-configuration",
)
MASK = "++++++++"


@dataclass(frozen=True)
class IgnoreRule:
    group: str
    kind: str
    name: str = ""
    namespace: str = ""
    json_pointers: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()

    def matches(self, key: ObjectKey) -> bool:
        return (
            self.kind == key.kind
            and self.group == key.group
            and (not self.name or self.name == key.name)
            and (not self.namespace or self.namespace == key.namespace)
        )


@dataclass
class ResourceDiff:
    key: ObjectKey
    status: str  # Synced | OutOfSync | Missing (not in cluster) | Extra (to prune)
    desired: Obj | None = None
    live: Obj | None = None
    changed_paths: list[str] = field(default_factory=list)

    def text(self) -> str:
        """A unified YAML diff with Secret values masked."""
        before = _dump(mask_secret(self.live)) if self.live is not None else ""
        after = _dump(mask_secret(self.desired)) if self.desired is not None else ""
        lines = difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"live/{self.key}",
            tofile=f"git/{self.key}",
        )
        return "".join(lines)


def _dump(obj: Obj | None) -> str:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False) if obj else ""


def normalise(obj: Obj) -> Obj:
    """The comparable part of an object: no status, no server bookkeeping (a copy)."""
    return copy.deepcopy(comparable(obj))


def comparable(obj: Obj) -> Obj:
    """As ``normalise``, but sharing every nested value with ``obj``: for reading only
    (a hash, a comparison), where a deep copy of a whole object per look costs."""
    out = {k: v for k, v in obj.items() if k != "status"}
    if not isinstance(out.get("metadata"), dict):
        return out
    meta = {k: v for k, v in out["metadata"].items() if k not in SERVER_METADATA}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in SERVER_ANNOTATIONS
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    if not meta.get("labels"):
        meta.pop("labels", None)
    out["metadata"] = meta
    return out


def mask_secret(obj: Obj | None) -> Obj | None:
    """A copy of a Secret with every data value replaced; other kinds unchanged."""
    if obj is None or obj.get("kind") != "Secret" or group_of(str(obj.get("apiVersion"))):
        return obj
    out = copy.deepcopy(obj)
    for section in ("data", "stringData"):
        if isinstance(out.get(section), dict):
            out[section] = {k: MASK for k in out[section]}
    annotations = (out.get("metadata") or {}).get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    return out


def _remove_pointer(obj: Any, pointer: str) -> None:
    parts = pointer_parts(pointer)
    if not parts:
        return
    node = obj
    for part in parts[:-1]:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdecimal() and int(part) < len(node):
            node = node[int(part)]
        else:
            return
    last = parts[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and last.isdecimal() and int(last) < len(node):
        node.pop(int(last))


def _remove_managed(obj: Any, fields: dict[str, Any]) -> None:
    """Remove the fields a fieldsV1 set names (``f:`` keys and ``k:`` list items)."""
    for name, sub in fields.items():
        if name == ".":
            continue
        if name.startswith("f:") and isinstance(obj, dict):
            key = name[2:]
            if key not in obj:
                continue
            if isinstance(sub, dict) and any(k != "." for k in sub):
                _remove_managed(obj[key], sub)
            else:
                obj.pop(key, None)
        elif name.startswith("k:") and isinstance(obj, list):
            wanted = json.loads(name[2:])
            for index, item in enumerate(obj):
                if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
                    if isinstance(sub, dict) and any(k != "." for k in sub):
                        _remove_managed(item, sub)
                    else:
                        obj.pop(index)
                    break


def _managed_by(live: Obj, managers: tuple[str, ...]) -> list[dict[str, Any]]:
    entries = (live.get("metadata") or {}).get("managedFields") or []
    return [e.get("fieldsV1") or {} for e in entries if e.get("manager") in managers]


def _strip_ignored(
    desired: Obj, live: Obj | None, managed_from: Obj | None, rules: list[IgnoreRule]
) -> None:
    """Remove in place the fields the rules ignore; ``managed_from`` is the live object
    with its ``managedFields``, which name the fields of a managedFieldsManagers rule."""
    key = key_of(desired)
    for rule in rules:
        if not rule.matches(key):
            continue
        for pointer in rule.json_pointers:
            _remove_pointer(desired, pointer)
            if live is not None:
                _remove_pointer(live, pointer)
        if managed_from is not None and rule.managed_fields_managers:
            for fields in _managed_by(managed_from, rule.managed_fields_managers):
                _remove_managed(desired, fields)
                if live is not None:
                    _remove_managed(live, fields)


def keep_live_fields(desired: Obj, live: Obj | None, rules: list[IgnoreRule]) -> Obj:
    """``desired`` with the fields its ignore rules name set to their live values
    (RespectIgnoreDifferences): a field ignored in the diff is not written back
    either, so a replica count set by an autoscaler survives a sync. A field the
    live object lacks is left out of ``desired``."""
    out = copy.deepcopy(desired)
    if live is None:
        return out
    key = key_of(desired)
    for rule in rules:
        if not rule.matches(key):
            continue
        for pointer in rule.json_pointers:
            found, value = _at_pointer(live, pointer)
            if found:
                _set_pointer(out, pointer, copy.deepcopy(value))
            else:
                _remove_pointer(out, pointer)
        for fields in _managed_by(live, rule.managed_fields_managers):
            _copy_managed(out, live, fields)
    return out


def _at_pointer(obj: Any, pointer: str) -> tuple[bool, Any]:
    node = obj
    for part in pointer_parts(pointer):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdecimal() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _set_pointer(obj: Any, pointer: str, value: Any) -> None:
    parts = pointer_parts(pointer)
    if not parts:
        return
    node = obj
    for part in parts[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(part, {})
        elif isinstance(node, list) and part.isdecimal() and int(part) < len(node):
            node = node[int(part)]
        else:
            return
    last = parts[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and last.isdecimal() and int(last) < len(node):
        node[int(last)] = value


def _copy_managed(target: Any, live: Any, fields: dict[str, Any]) -> None:
    """Copy from ``live`` into ``target`` the fields a fieldsV1 set names."""
    for name, sub in fields.items():
        nested = isinstance(sub, dict) and any(k != "." for k in sub)
        if name.startswith("f:") and isinstance(target, dict) and isinstance(live, dict):
            key = name[2:]
            if key not in live:
                continue
            if nested and isinstance(live[key], dict | list):
                if not isinstance(target.get(key), type(live[key])):
                    target[key] = copy.deepcopy(live[key])
                else:
                    _copy_managed(target[key], live[key], sub)
            else:
                target[key] = copy.deepcopy(live[key])
        elif name.startswith("k:") and isinstance(target, list) and isinstance(live, list):
            wanted = json.loads(name[2:])
            source = next((i for i in live if _item_matches(i, wanted)), None)
            if source is None:
                continue
            index = next((n for n, i in enumerate(target) if _item_matches(i, wanted)), None)
            if index is None:
                target.append(copy.deepcopy(source))
            elif nested:
                _copy_managed(target[index], source, sub)
            else:
                target[index] = copy.deepcopy(source)


def _item_matches(item: Any, wanted: dict[str, Any]) -> bool:
    return isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items())


def pointer_token(key: object) -> str:
    """One JSON-pointer token (RFC 6901): ``~`` and ``/`` escaped."""
    return str(key).replace("~", "~0").replace("/", "~1")


def pointer_parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def changed_paths(a: Any, b: Any, prefix: str = "") -> list[str]:
    """JSON pointers where two values differ (for messages and events)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            out += changed_paths(a.get(k), b.get(k), f"{prefix}/{pointer_token(k)}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += changed_paths(x, y, f"{prefix}/{i}")
        return out
    return [] if a == b else [prefix or "/"]


def compare(
    predicted: Obj, live: Obj | None, rules: list[IgnoreRule] | None = None
) -> ResourceDiff:
    """Compare the dry-run result for a desired object with the live object."""
    key = key_of(predicted)
    if live is None:
        return ResourceDiff(
            key=key,
            status="OutOfSync",
            desired=normalise(predicted),
            live=None,
            changed_paths=["/"],
        )
    want, have = normalise(predicted), normalise(live)
    # The fields a managedFieldsManagers rule ignores are named by the live object's
    # managedFields, which normalising drops.
    _strip_ignored(want, have, live, rules or [])
    paths = changed_paths(have, want)
    return ResourceDiff(
        key=key,
        status="OutOfSync" if paths else "Synced",
        desired=want,
        live=have,
        changed_paths=paths,
    )
