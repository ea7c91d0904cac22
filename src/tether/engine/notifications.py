"""Notifications as data: triggers, subscriptions, services, payloads and signatures.

An app subscribes with Argo CD's annotation
``notifications.argoproj.io/subscribe.<trigger>.<service>: <recipients>``
(``notifications.tether.dev/...`` is read the same way); recipients are
separated by ``;`` and mean a channel for Slack, nothing for a webhook.

Services are named in the ConfigMap ``tether-notifications`` of the app
namespace, as in ``argocd-notifications-cm``::

    service.webhook.ops: |
      url: https://hooks.example.com/tether
      signingSecret: $ops-hmac        # key of the Secret tether-notifications
      headers: {X-Team: payments}
    service.slack: |
      url: $slack-url                 # an incoming-webhook URL, kept in the Secret

``service.teams`` and ``service.googlechat`` (or ``.<name>``) get a
Microsoft Teams MessageCard and a Google Chat message. A webhook's body is
the notice as JSON, signed with HMAC-SHA256 of the body
in ``X-Tether-Signature-256: sha256=<hex>`` (GitHub's scheme) when a signing
secret is set. Slack gets an incoming-webhook payload (``text`` and one
attachment), which Mattermost and Rocket.Chat accept too.

Triggers come from status transitions of apps (``transitions``) and of
RegistryCredentials (``credential_transitions``, subscribed with the same
annotations on the RegistryCredential), and from image automation. A drift
revert is an automated sync that succeeded at the revision the previous
successful sync had already applied: nothing changed in Git, so something
changed in the cluster.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from tether.engine.notification_templates import Rendered

CONFIGMAP = "tether-notifications"
SECRET = "tether-notifications"
SIGNATURE_HEADER = "X-Tether-Signature-256"
SUBSCRIBE_PREFIXES = ("notifications.argoproj.io/subscribe.", "notifications.tether.dev/subscribe.")

SYNC_SUCCEEDED = "on-sync-succeeded"
SYNC_FAILED = "on-sync-failed"
HEALTH_DEGRADED = "on-health-degraded"
HEALTH_RECOVERED = "on-health-recovered"
DRIFT_REVERTED = "on-drift-reverted"
IMAGE_UPDATED = "on-image-updated"
CREDENTIAL_EXPIRING = "on-credential-expiring"
CREDENTIAL_REFRESH_FAILED = "on-credential-refresh-failed"
APP_TRIGGERS = (
    SYNC_SUCCEEDED,
    SYNC_FAILED,
    HEALTH_DEGRADED,
    HEALTH_RECOVERED,
    DRIFT_REVERTED,
    IMAGE_UPDATED,
)
CREDENTIAL_TRIGGERS = (CREDENTIAL_EXPIRING, CREDENTIAL_REFRESH_FAILED)
TRIGGERS = APP_TRIGGERS + CREDENTIAL_TRIGGERS
_COLOURS = {
    SYNC_SUCCEEDED: "#18be52",
    HEALTH_RECOVERED: "#18be52",
    SYNC_FAILED: "#e96d76",
    HEALTH_DEGRADED: "#e96d76",
    DRIFT_REVERTED: "#f4c030",
    IMAGE_UPDATED: "#0dadea",
    CREDENTIAL_EXPIRING: "#f4c030",
    CREDENTIAL_REFRESH_FAILED: "#e96d76",
}


@dataclass(frozen=True)
class Notice:
    """Something happened to an app. ``key`` tells repeats of one occurrence apart."""

    trigger: str
    app: str
    namespace: str
    message: str
    key: str
    revision: str = ""
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Subscription:
    trigger: str
    service: str
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class Service:
    name: str
    kind: str  # "webhook", "slack", "teams" or "googlechat"
    url: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    signing_secret: str = field(default="", repr=False)


class ConfigError(ValueError):
    """A service definition cannot be used; the message names the key."""


# ---------------------------------------------------------------- subscriptions


def subscriptions(annotations: Mapping[str, str]) -> list[Subscription]:
    """Every ``subscribe.<trigger>.<service>`` annotation of an app."""
    out = []
    for key, value in sorted(annotations.items()):
        prefix = next((p for p in SUBSCRIBE_PREFIXES if key.startswith(p)), None)
        if prefix is None:
            continue
        trigger, dot, service = key[len(prefix) :].partition(".")
        if not dot or not trigger or not service:
            continue
        recipients = tuple(r.strip() for r in re.split(r"[;,]", value or "") if r.strip())
        out.append(Subscription(trigger, service, recipients))
    return out


# ---------------------------------------------------------------- services


def _resolve(value: str, secret: Mapping[str, str], where: str) -> str:
    """``$key`` names a key of the notifications Secret (so URLs with tokens stay secret)."""
    if value.startswith("$"):
        key = value[1:]
        if key not in secret:
            raise ConfigError(f"{where}: Secret {SECRET} has no key {key!r}")
        return secret[key]
    return value


def parse_services(
    data: Mapping[str, str], secret: Mapping[str, str]
) -> tuple[dict[str, Service], list[str]]:
    """Services from the ConfigMap's data, and the problems of those that are unusable."""
    services: dict[str, Service] = {}
    problems: list[str] = []
    for key, raw in sorted(data.items()):
        match = re.fullmatch(
            r"service\.(webhook|slack|teams|googlechat)(?:\.([A-Za-z0-9_-]+))?", key
        )
        if match is None:
            continue
        kind, name = match.group(1), match.group(2) or match.group(1)
        try:
            body = yaml.safe_load(raw) or {}
            if not isinstance(body, dict):
                raise ConfigError(f"{key}: not a mapping")
            url = _resolve(str(body.get("url") or ""), secret, key)
            if not re.match(r"^https?://", url):
                raise ConfigError(f"{key}: url must be http(s)")
            headers = {
                str(h): _resolve(str(v), secret, key)
                for h, v in (body.get("headers") or {}).items()
            }
            signing = _resolve(str(body.get("signingSecret") or ""), secret, key)
            services[name] = Service(name, kind, url, headers, signing)
        except (ConfigError, yaml.YAMLError, AttributeError) as exc:
            problems.append(str(exc).splitlines()[0])
    return services, problems


# ---------------------------------------------------------------- triggers


def transitions(
    app: str,
    namespace: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    degraded: bool = False,
) -> list[Notice]:
    """Notices for what changed between two statuses of one app.

    ``degraded`` says the app was Degraded since it was last Healthy, so a
    recovery through Progressing (a fix rolling out) still counts.
    """
    out: list[Notice] = []
    old_op = old.get("operationState") or {}
    new_op = new.get("operationState") or {}
    finished = new_op.get("finishedAt")
    if (
        finished
        and finished != old_op.get("finishedAt")
        and not new_op.get("dryRun")
        and new_op.get("phase") in ("Succeeded", "Failed", "Error")
    ):
        ok = new_op.get("phase") == "Succeeded"
        revision = str(new_op.get("revision") or (new.get("sync") or {}).get("revision") or "")
        out.append(
            Notice(
                SYNC_SUCCEEDED if ok else SYNC_FAILED,
                app,
                namespace,
                str(new_op.get("message") or new_op.get("phase")),
                f"sync:{finished}",
                revision,
                {
                    "phase": str(new_op.get("phase")),
                    "initiatedBy": str(new_op.get("initiatedBy") or ""),
                },
            )
        )
        if (
            ok
            and new_op.get("initiatedBy") == "automated"
            and old_op.get("phase") == "Succeeded"
            and revision
            and old_op.get("revision") == revision
        ):
            out.append(
                Notice(
                    DRIFT_REVERTED,
                    app,
                    namespace,
                    str(new_op.get("message") or "drift reverted"),
                    f"drift:{finished}",
                    revision,
                )
            )
    was = (old.get("health") or {}).get("status")
    now = (new.get("health") or {}).get("status")
    message = str((new.get("health") or {}).get("message") or now)
    if now == "Degraded" and was not in (None, "Degraded"):
        out.append(Notice(HEALTH_DEGRADED, app, namespace, message, f"health:{was}>{now}"))
    elif now == "Healthy" and was != "Healthy" and degraded:
        out.append(Notice(HEALTH_RECOVERED, app, namespace, message, f"health:{was}>{now}"))
    return out


def _condition(status: Mapping[str, Any], ctype: str) -> Mapping[str, Any]:
    found = (c for c in status.get("conditions") or [] if c.get("type") == ctype)
    return next(found, {})


def credential_transitions(
    name: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[Notice]:
    """Notices for a RegistryCredential: its refresh started failing, or it will lapse."""
    out = []
    was, now = _condition(old, "Ready"), _condition(new, "Ready")
    if now.get("status") == "False" and was.get("status") != "False":
        out.append(
            Notice(
                CREDENTIAL_REFRESH_FAILED,
                name,
                "",
                str(now.get("message") or now.get("reason") or "refresh failed"),
                f"ready:{now.get('lastTransitionTime', '')}",
                details={"reason": str(now.get("reason") or "")},
            )
        )
    was, now = _condition(old, "Expiring"), _condition(new, "Expiring")
    if now.get("status") == "True" and was.get("status") != "True":
        out.append(
            Notice(
                CREDENTIAL_EXPIRING,
                name,
                "",
                str(now.get("message") or "the pull credential will lapse"),
                f"expiring:{now.get('lastTransitionTime', '')}",
                details={"expiresAt": str(new.get("expiresAt") or "")},
            )
        )
    return out


# ---------------------------------------------------------------- payloads


def payload(
    notice: Notice, service: Service, recipient: str = "", rendered: Rendered | None = None
) -> bytes:
    """The body for ``service``: built in, or from a custom template (``notification_templates``).

    A template's webhook ``body`` is sent as written; otherwise its message
    and title take the place of the built-in ones in the usual layout.
    """
    if rendered is not None and rendered.body is not None:
        return rendered.body.encode()
    title = f"{notice.app}: {notice.trigger.removeprefix('on-').replace('-', ' ')}"
    message = notice.message
    text = f"{title}: {message}"
    if rendered is not None:
        title = rendered.title or title
        message = text = rendered.message
    if service.kind == "slack":
        body: dict[str, Any] = {
            "text": text,
            "attachments": [
                {
                    "title": title,
                    "text": message,
                    "color": _COLOURS.get(notice.trigger, "#cccccc"),
                    "fields": [
                        {"title": k, "value": v, "short": True}
                        for k, v in {"revision": notice.revision, **notice.details}.items()
                        if v
                    ],
                }
            ],
        }
        if recipient:
            body["channel"] = recipient
    elif service.kind == "teams":
        body = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": title,
            "title": title,
            "text": message,
            "themeColor": _COLOURS.get(notice.trigger, "#cccccc").lstrip("#"),
            "sections": [
                {
                    "facts": [
                        {"name": k, "value": v}
                        for k, v in {"revision": notice.revision, **notice.details}.items()
                        if v
                    ]
                }
            ],
        }
    elif service.kind == "googlechat":
        body = {"text": f"*{title}*\n{message}"}
    else:
        body = {
            "trigger": notice.trigger,
            "app": notice.app,
            "namespace": notice.namespace,
            "message": message,
            "revision": notice.revision,
            "details": dict(notice.details),
            "key": notice.key,
        }
        if recipient:
            body["recipient"] = recipient
        if rendered is not None:
            body["template"] = rendered.template
            if rendered.title:
                body["title"] = rendered.title
    return json.dumps(body, sort_keys=True).encode()


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>`` of the body, keyed with the service's signing secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(signature(secret, body).encode(), header.encode())


def backoff(attempt: int, base: float = 1.0, cap: float = 60.0) -> float:
    """Seconds before retry ``attempt`` (1-based): base, 2*base, 4*base ... capped."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))
