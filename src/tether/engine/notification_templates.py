"""Custom notification templates and the triggers that send them (Argo CD's ``template.*``).

Beside the services, the ``tether-notifications`` ConfigMap may hold, as in
``argocd-notifications-cm``::

    context: |
      dashboard: https://tether.example.com
    template.sync-failed: |
      title: "{{.app.metadata.name}} failed to sync"
      message: "{{.app.metadata.name}}: {{.message}} (see {{.context.dashboard}})"
      webhook:
        ops:
          path: /deploys
          body: '{"app": "{{.app.metadata.name}}", "revision": "{{.revision}}"}'
    trigger.on-sync-failed: |
      - send: [sync-failed]

A trigger entry names Tether's built-in trigger it changes; its ``send`` lists
the templates every subscriber of that trigger gets (one notification each).
Tether decides *when* its triggers fire, so an Argo CD ``when`` expression is
accepted and ignored, and a trigger name Tether does not have is a problem.
Triggers without an entry keep the built-in messages.

Template text is the strict Go-template subset of ApplicationSets
(``tether.engine.appsets.template``: fields, ``index``, ``lower``, ``default``,
``printf`` ... no ``if``/``range``) over these fields:

- ``.app``: the Application (or RegistryCredential) the notice is about;
- ``.trigger``, ``.message``, ``.revision``, ``.details`` (a map): the notice;
- ``.context``: the ConfigMap's ``context`` entries;
- ``.serviceType`` (``webhook``, ``slack`` ...) and ``.recipient``.

A field root outside these, an unknown function or a syntax error is found
when the ConfigMap is read and reported as a problem; a field missing from
one particular app (``.app.status.operationState`` before its first sync) is
found when rendering, and that delivery fails with a message naming it.
Templates never see the notifications Secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from tether.engine.appsets.template import TemplateError, render_go

TRIGGER_NAMES = (
    "on-sync-succeeded",
    "on-sync-failed",
    "on-health-degraded",
    "on-health-recovered",
    "on-drift-reverted",
    "on-image-updated",
    "on-credential-expiring",
    "on-credential-refresh-failed",
)
ROOTS = ("app", "trigger", "message", "revision", "details", "context", "serviceType", "recipient")
MAX_TEXT = 16 * 1024  # per template string, before rendering
MAX_RENDERED = 256 * 1024  # per rendered string
_NAME = r"[A-Za-z0-9_.-]+"


@dataclass(frozen=True)
class WebhookPart:
    """What one template sends to one webhook service instead of the JSON notice."""

    body: str = ""
    path: str = ""


@dataclass(frozen=True)
class Template:
    name: str
    message: str = ""
    title: str = ""
    webhooks: Mapping[str, WebhookPart] = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    """A template filled in for one notice and one service; ``body`` None: the usual payload."""

    template: str
    message: str
    title: str = ""
    body: str | None = None
    path: str = ""


@dataclass(frozen=True)
class Catalog:
    """Templates, which templates each trigger sends, and the ``context`` map."""

    templates: Mapping[str, Template] = field(default_factory=dict)
    sends: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    context: Mapping[str, str] = field(default_factory=dict)
    broken: Mapping[str, str] = field(default_factory=dict)  # template name -> its problem

    def templates_for(self, trigger: str) -> tuple[str, ...]:
        """Template names ``trigger`` sends; () means the built-in message."""
        return self.sends.get(trigger, ())


def parse_catalog(data: Mapping[str, str]) -> tuple[Catalog, list[str]]:
    """Templates and triggers from the ConfigMap's data, and the problems found in them.

    A broken template is left out (a trigger that sends it then fails with
    that name, rather than sending something else); a broken trigger entry
    is left out (its trigger keeps the built-in message).
    """
    problems: list[str] = []
    context = _context(data.get("context"), problems)
    templates: dict[str, Template] = {}
    broken: dict[str, str] = {}
    for key, raw in sorted(data.items()):
        match = re.fullmatch(rf"template\.({_NAME})", key)
        if match is None:
            continue
        try:
            templates[match.group(1)] = _template(match.group(1), raw, context)
        except (TemplateError, yaml.YAMLError, ValueError) as exc:
            broken[match.group(1)] = f"{key}: {_first_line(exc)}"
            problems.append(broken[match.group(1)])
    sends: dict[str, tuple[str, ...]] = {}
    for key, raw in sorted(data.items()):
        match = re.fullmatch(rf"trigger\.({_NAME})", key)
        if match is None:
            continue
        try:
            sends[match.group(1)] = _trigger(match.group(1), raw)
        except (yaml.YAMLError, ValueError) as exc:
            problems.append(f"{key}: {_first_line(exc)}")
    for trigger, names in sends.items():
        for name in names:
            if f"template.{name}" not in data:
                problems.append(f"trigger.{trigger}: sends template {name!r}, which is not defined")
    return Catalog(templates, sends, context, broken), problems


def render_named(
    catalog: Catalog,
    name: str,
    *,
    service: str,
    service_type: str,
    obj: Mapping[str, Any],
    trigger: str,
    message: str,
    revision: str,
    details: Mapping[str, str],
    recipient: str,
) -> Rendered:
    """Template ``name`` of ``catalog`` filled in for one notice about ``obj`` and one service.

    Raises ``TemplateError`` when the template is missing or broken (with
    its problem) or a field is missing from this notice's data.
    """
    template = catalog.templates.get(name)
    if template is None:
        raise TemplateError(
            catalog.broken.get(name) or f"template {name!r} is not defined in the ConfigMap"
        )
    params = template_params(
        obj=obj,
        trigger=trigger,
        message=message,
        revision=revision,
        details=details,
        context=catalog.context,
        service_type=service_type,
        recipient=recipient,
    )
    return render(template, service=service, service_type=service_type, params=params)


def render(
    template: Template,
    *,
    service: str,
    service_type: str,
    params: Mapping[str, Any],
) -> Rendered:
    """Fill ``template`` in for one service; ``params`` from ``template_params``.

    Raises ``TemplateError`` naming the template and field when a field is
    missing from this notice's data.
    """

    def one(where: str, text: str) -> str:
        try:
            out = render_go(text, params)
        except TemplateError as exc:
            raise TemplateError(f"template {template.name} {where}: {exc}") from None
        if len(out) > MAX_RENDERED:
            raise TemplateError(f"template {template.name} {where}: longer than 256 KiB")
        return out

    message = one("message", template.message)
    title = one("title", template.title) if template.title else ""
    part = template.webhooks.get(service) if service_type == "webhook" else None
    if part is None:
        return Rendered(template.name, message, title)
    body = one(f"webhook.{service}.body", part.body) if part.body else None
    path = one(f"webhook.{service}.path", part.path) if part.path else ""
    if path and (not path.startswith("/") or "//" in path or any(c in path for c in "\r\n\t ")):
        raise TemplateError(
            f"template {template.name} webhook.{service}.path: {path!r} is not a path"
        )
    return Rendered(template.name, message, title, body, path)


def template_params(
    *,
    obj: Mapping[str, Any],
    trigger: str,
    message: str,
    revision: str,
    details: Mapping[str, str],
    context: Mapping[str, str],
    service_type: str,
    recipient: str,
) -> dict[str, Any]:
    """The fields a template sees (``ROOTS``), from a notice and the object it is about."""
    app = dict(obj)
    metadata = dict(app.get("metadata") or {})
    metadata.pop("managedFields", None)
    app["metadata"] = metadata
    return {
        "app": app,
        "trigger": trigger,
        "message": message,
        "revision": revision,
        "details": dict(details),
        "context": dict(context),
        "serviceType": service_type,
        "recipient": recipient,
    }


# ---------------------------------------------------------------- parsing


def _context(raw: str | None, problems: list[str]) -> dict[str, str]:
    if not raw:
        return {}
    try:
        parsed = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        problems.append(f"context: {_first_line(exc)}")
        return {}
    if not isinstance(parsed, dict):
        problems.append("context: not a mapping")
        return {}
    return {str(k): "" if v is None else str(v) for k, v in parsed.items()}


def _template(name: str, raw: str, context: Mapping[str, str]) -> Template:
    body = yaml.safe_load(raw) or {}
    if not isinstance(body, dict):
        raise ValueError("not a mapping")
    message = _text(body, "message")
    title = _text(body, "title")
    webhooks: dict[str, WebhookPart] = {}
    hooks = body.get("webhook") or {}
    if not isinstance(hooks, dict):
        raise ValueError("webhook: not a mapping of service names")
    for service, part in hooks.items():
        if not isinstance(part, dict):
            raise ValueError(f"webhook.{service}: not a mapping")
        method = str(part.get("method") or "POST").upper()
        if method != "POST":
            raise ValueError(f"webhook.{service}.method: only POST is sent (got {method})")
        webhooks[str(service)] = WebhookPart(
            _text(part, "body", f"webhook.{service}."), _text(part, "path", f"webhook.{service}.")
        )
    if not message and not webhooks:
        raise ValueError("needs a message (or a webhook body)")
    template = Template(name, message, title, webhooks)
    _check(template, context)
    return template


def _text(body: Mapping[str, Any], key: str, prefix: str = "") -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{prefix}{key}: must be a string")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{prefix}{key}: longer than 16 KiB")
    return value


def _trigger(name: str, raw: str) -> tuple[str, ...]:
    if name not in TRIGGER_NAMES:
        raise ValueError(
            f"Tether has no trigger {name!r} (custom conditions are not supported); "
            f"known: {', '.join(TRIGGER_NAMES)}"
        )
    body = yaml.safe_load(raw) or []
    entries = body if isinstance(body, list) else [body]
    names: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("each entry is a mapping with send: [template, ...]")
        send = entry.get("send") or []
        if not isinstance(send, list) or not all(isinstance(s, str) for s in send):
            raise ValueError("send: must be a list of template names")
        names.extend(s for s in send if s not in names)
    if not names:
        raise ValueError("sends no template")
    return tuple(names)


def _check(template: Template, context: Mapping[str, str]) -> None:
    """Render once over stand-in values, so syntax, functions and field roots are checked now."""
    params: dict[str, Any] = {root: _Any() for root in ROOTS}
    params["context"] = dict(context)  # known now: a missing key is a mistake
    texts = [("message", template.message), ("title", template.title)]
    for service, part in template.webhooks.items():
        texts += [(f"webhook.{service}.body", part.body), (f"webhook.{service}.path", part.path)]
    for where, text in texts:
        try:
            render_go(text, params)
        except TemplateError as exc:
            raise TemplateError(f"{where}: {exc}") from None


class _Any(str, Mapping[str, Any]):
    """A stand-in that reads as text and has every field, for checking a template early."""

    def __new__(cls) -> _Any:
        return super().__new__(cls, "")

    def __getitem__(self, key: object) -> _Any:
        return _Any()

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
