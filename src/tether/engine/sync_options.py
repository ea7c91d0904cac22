"""Sync options: how each object is written, from the app and from the object itself.

Users carry Argo CD's options in two places: the app's
``spec.syncPolicy.syncOptions`` (``["Replace=true", ...]``) and, per object,
the annotation ``argocd.argoproj.io/sync-options: "Replace=true,Validate=false"``
(or its Tether spelling ``tether.dev/sync-options``). This module turns both
into one record per object, so the code that applies and compares never reads
annotations itself.

Precedence: an option the object names wins over the app's (so one object can
say ``ServerSideApply=false`` in an app that says nothing, or ``Validate=true``
in an app that says ``Validate=false``); the Tether annotation wins over the
Argo CD one when both name an option. Options Argo CD reads only at the app
level (``ApplyOutOfSyncOnly``, ``RespectIgnoreDifferences``,
``FailOnSharedResource``...) are not honoured in an annotation; they, unknown
options and values other than true/false are listed in ``ignored`` with the
reason, never an error, because Argo CD ignores them too and a repository
that works there must not stop syncing here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tether.engine import objects
from tether.engine.application import ApplicationSpec
from tether.engine.diff import IgnoreRule
from tether.engine.objects import Obj, ObjectKey, key_of

ARGO_ANNOTATION = "argocd.argoproj.io/sync-options"
TETHER_ANNOTATION = "tether.dev/sync-options"

# Options an object may set for itself (Argo CD's per-resource options).
PER_OBJECT = ("Replace", "ServerSideApply", "Validate", "SkipDryRunOnMissingResource")
# Per-resource options that the sync plan reads (pruning and ordering), not the apply.
PLAN_OPTIONS = ("Prune", "Delete", "PruneLast")
# Options that only make sense for a whole app.
APP_ONLY = (
    "ApplyOutOfSyncOnly",
    "RespectIgnoreDifferences",
    "FailOnSharedResource",
    "CreateNamespace",
    "AllowEmpty",
    "AdoptExisting",
    "PrunePropagationPolicy",
)
DEFAULTS = {
    "Replace": False,
    "ServerSideApply": True,
    "Validate": True,
    "SkipDryRunOnMissingResource": False,
}


def parse(text: str) -> dict[str, str]:
    """``"A=b, C=d"`` -> ``{"A": "b", "C": "d"}``; an item without ``=`` maps to ``""``."""
    out: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        out[name.strip()] = value.strip()
    return out


def object_options(obj: Obj) -> dict[str, str]:
    """The options an object's annotations name (the Tether alias over Argo CD's)."""
    notes = objects.annotations(obj)
    return parse(str(notes.get(ARGO_ANNOTATION) or "")) | parse(
        str(notes.get(TETHER_ANNOTATION) or "")
    )


def _flag(value: str) -> bool | None:
    lowered = value.lower()
    return True if lowered == "true" else False if lowered == "false" else None


@dataclass(frozen=True)
class ObjectOptions:
    """How one object is compared and written."""

    replace: bool = False
    server_side_apply: bool = True
    validate: bool = True
    skip_dry_run_on_missing_resource: bool = False
    # RespectIgnoreDifferences: the app's ignoreDifferences rules for this object,
    # whose fields keep their live values when it is applied.
    keep_live: tuple[IgnoreRule, ...] = ()
    # "Name=value: why" for each annotation option that is not honoured.
    ignored: tuple[str, ...] = ()

    @property
    def field_validation(self) -> str:
        """The API server's ``fieldValidation``: Strict refuses unknown or duplicate
        fields; Ignore (``Validate=false``) drops them silently."""
        return "Strict" if self.validate else "Ignore"

    @property
    def client_side(self) -> bool:
        """Written with a three-way merge patch: ``ServerSideApply=false``, and also
        ``Validate=false``, because the API server refuses unknown fields in a
        server-side apply whatever ``fieldValidation`` says. ``Replace=true``
        takes precedence (create and replace honour ``fieldValidation``)."""
        return (not self.server_side_apply or not self.validate) and not self.replace


@dataclass(frozen=True)
class AppOptions:
    """An app's sync options and ignore rules, resolved per object with ``for_object``."""

    values: Mapping[str, str] = field(default_factory=dict)
    ignore_rules: tuple[IgnoreRule, ...] = ()

    def flag(self, name: str, default: bool = False) -> bool:
        found = _flag(self.values.get(name, ""))
        return default if found is None else found

    @property
    def apply_out_of_sync_only(self) -> bool:
        return self.flag("ApplyOutOfSyncOnly")

    @property
    def respect_ignore_differences(self) -> bool:
        return self.flag("RespectIgnoreDifferences")

    @property
    def fail_on_shared_resource(self) -> bool:
        return self.flag("FailOnSharedResource")

    def for_object(self, obj: Obj) -> ObjectOptions:
        chosen = {name: self.flag(name, default) for name, default in DEFAULTS.items()}
        ignored = []
        for name, value in object_options(obj).items():
            reason = _not_honoured(name, value)
            if reason:
                ignored.append(f"{name}={value}: {reason}")
                continue
            if name in PER_OBJECT:
                chosen[name] = bool(_flag(value))
        key = key_of(obj)
        keep = (
            tuple(r for r in self.ignore_rules if _keeps(r, key))
            if self.respect_ignore_differences
            else ()
        )
        return ObjectOptions(
            replace=chosen["Replace"],
            server_side_apply=chosen["ServerSideApply"],
            validate=chosen["Validate"],
            skip_dry_run_on_missing_resource=chosen["SkipDryRunOnMissingResource"],
            keep_live=keep,
            ignored=tuple(ignored),
        )


def _keeps(rule: IgnoreRule, key: ObjectKey) -> bool:
    return rule.matches(key) and bool(rule.json_pointers or rule.managed_fields_managers)


def _not_honoured(name: str, value: str) -> str:
    """Why an annotation option is not honoured ("" when it is)."""
    if name in PLAN_OPTIONS:  # read by the sync plan, not here
        if value.lower() == "confirm":
            return "needs a confirmation step that Tether does not have; treated as not set"
        return "" if _flag(value) is not None else "the value must be true or false"
    if name in APP_ONLY:
        return "an app-level option (spec.syncPolicy.syncOptions); not read per resource"
    if name not in PER_OBJECT:
        return "not a sync option Tether knows"
    if _flag(value) is None:
        return "the value must be true or false"
    return ""


def for_app(sync_options: Iterable[str], ignore_rules: Iterable[IgnoreRule] = ()) -> AppOptions:
    """From ``spec.syncPolicy.syncOptions`` (``["Name=value", ...]``) and the app's
    ``ignoreDifferences`` rules."""
    values: dict[str, str] = {}
    for option in sync_options:
        name, _, value = option.partition("=")
        values[name.strip()] = value.strip()
    return AppOptions(values, tuple(ignore_rules))


def ignore_rules(spec: ApplicationSpec) -> list[IgnoreRule]:
    """The app's ``ignoreDifferences`` as rules the diff understands."""
    return [
        IgnoreRule(
            r.group,
            r.kind,
            r.name,
            r.namespace,
            tuple(r.json_pointers),
            tuple(r.managed_fields_managers),
        )
        for r in spec.ignore_differences
    ]


def for_spec(spec: ApplicationSpec) -> AppOptions:
    """An app's options, with its ignore rules (for RespectIgnoreDifferences)."""
    return for_app(spec.sync_policy.sync_options, ignore_rules(spec))
