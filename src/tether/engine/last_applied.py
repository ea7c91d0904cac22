"""Client-side apply, as ``kubectl apply`` without ``--server-side`` does it.

An object synced with ``ServerSideApply=false`` carries what was last applied
in the annotation ``kubectl.kubernetes.io/last-applied-configuration``. The
next apply is a three-way JSON merge patch: every field Git sets that the live
object lacks or holds differently, and ``null`` for every field the last
apply set that Git no longer has. Fields someone else added are kept, because
neither Git nor the last apply named them. Lists are replaced whole (JSON
merge patch has no list merge), which is what kubectl does for custom
resources.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tether.engine.objects import Obj

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def with_last_applied(obj: Obj) -> Obj:
    """``obj`` carrying its own configuration in the last-applied annotation."""
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    notes = dict(meta.get("annotations") or {})
    notes.pop(LAST_APPLIED, None)
    config = copy.deepcopy(out)
    if notes:
        config["metadata"]["annotations"] = notes
    else:
        config["metadata"].pop("annotations", None)
    notes[LAST_APPLIED] = json.dumps(config, sort_keys=True, separators=(",", ":"))
    meta["annotations"] = notes
    return out


def last_applied(live: Obj | None) -> Obj | None:
    """The configuration last applied to ``live``, or None (never applied client-side)."""
    text = ((live or {}).get("metadata") or {}).get("annotations", {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def three_way_patch(original: Obj | None, desired: Obj, live: Obj) -> dict[str, Any]:
    """The JSON merge patch that turns ``live`` into what ``desired`` asks for,
    deleting what ``original`` (the last apply) set and ``desired`` dropped."""
    return _patch(original or {}, desired, live)


def _patch(
    original: dict[str, Any], desired: dict[str, Any], live: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, want in desired.items():
        have = live.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            before = original.get(key)
            sub = _patch(before if isinstance(before, dict) else {}, want, have)
            if sub:
                out[key] = sub
        elif key not in live or have != want:
            out[key] = copy.deepcopy(want)
    for key in original:
        if key not in desired and key in live:
            out[key] = None
    return out
