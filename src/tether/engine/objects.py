"""Kubernetes objects as plain data.

The engine works on the JSON form of objects (``dict[str, Any]``), exactly as
the API server returns them, so that every adapter can hand objects over
without a model layer in between and tests can be written as YAML.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True, order=True)
class ObjectKey:
    """Identity of an object: group, kind, namespace (empty when cluster-scoped), name."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"


def group_of(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def version_of(api_version: str) -> str:
    return api_version.split("/", 1)[1] if "/" in api_version else api_version


def key_of(obj: Obj) -> ObjectKey:
    meta = obj.get("metadata") or {}
    return ObjectKey(
        group=group_of(str(obj.get("apiVersion", ""))),
        kind=str(obj.get("kind", "")),
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name", "")),
    )


def meta(obj: Obj) -> dict[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def labels(obj: Obj) -> dict[str, str]:
    return dict(meta(obj).get("labels") or {})


def annotations(obj: Obj) -> dict[str, str]:
    return dict(meta(obj).get("annotations") or {})


def controller_owner(obj: Obj) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def conditions(obj: Obj) -> dict[str, dict[str, Any]]:
    """Status conditions by type."""
    out: dict[str, dict[str, Any]] = {}
    found = status_of(obj).get("conditions")
    for cond in found if isinstance(found, list) else []:
        if isinstance(cond, dict) and "type" in cond:
            out[str(cond["type"])] = cond
    return out


def owner_references(obj: Obj) -> list[dict[str, Any]]:
    """All ownerReferences of an object (controller or not)."""
    return [dict(ref) for ref in meta(obj).get("ownerReferences") or [] if isinstance(ref, dict)]


def uid_of(obj: Obj) -> str:
    return str(meta(obj).get("uid") or "")


def status_of(obj: Obj) -> dict[str, Any]:
    value = obj.get("status")
    return value if isinstance(value, dict) else {}


def spec_of(obj: Obj) -> dict[str, Any]:
    value = obj.get("spec")
    return value if isinstance(value, dict) else {}


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as the API server writes it, as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class EventSubject:
    """The object an Event is about (``involvedObject`` or ``regarding``)."""

    kind: str
    namespace: str
    name: str
    uid: str


def event_subject(event: Obj) -> EventSubject:
    """Works for both core/v1 Events and events.k8s.io/v1 Events."""
    ref = event.get("involvedObject") or event.get("regarding") or {}
    return EventSubject(
        kind=str(ref.get("kind", "")),
        namespace=str(ref.get("namespace") or meta(event).get("namespace") or ""),
        name=str(ref.get("name", "")),
        uid=str(ref.get("uid") or ""),
    )


def event_message(event: Obj) -> str:
    return str(event.get("message") or event.get("note") or "")


def event_time(event: Obj) -> datetime | None:
    for field in ("lastTimestamp", "eventTime", "deprecatedLastTimestamp", "firstTimestamp"):
        parsed = parse_time(event.get(field))
        if parsed is not None:
            return parsed
    series = event.get("series")
    if isinstance(series, dict):
        return parse_time(series.get("lastObservedTime"))
    return parse_time(meta(event).get("creationTimestamp"))


def events_for(obj: Obj, events: Iterable[Obj]) -> list[Obj]:
    """Events about ``obj``, newest last; matched by uid, else by kind/namespace/name."""
    uid = uid_of(obj)
    key = key_of(obj)
    found = []
    for event in events:
        subject = event_subject(event)
        if uid and subject.uid:
            if subject.uid == uid:
                found.append(event)
        elif (subject.kind, subject.namespace, subject.name) == (key.kind, key.namespace, key.name):
            found.append(event)
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda ev: event_time(ev) or epoch)
