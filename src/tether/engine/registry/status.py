"""RegistryCredential status: per-namespace results rolled up into conditions, no I/O.

Split from ``tether.engine.registry`` (the spec and timing rules) because the
status is its own concern: what a reader of ``kubectl get regcred`` or ``tether
registry list`` sees. The model has no field that could carry a credential
value: it is built from timestamps and redacted error strings only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from tether.engine.registry.spec import redact


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Condition(_Model):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: datetime


class CredentialStatus(_Model):
    """Per-namespace state of the pull secret. Timestamps and redacted errors only."""

    namespace: str
    secret_name: str
    last_refresh: datetime | None = None
    expires_at: datetime | None = None
    last_error: str | None = None
    last_error_since: datetime | None = None
    conditions: list[Condition] = Field(default_factory=list)


class RegistryCredentialStatus(_Model):
    observed_generation: int = 0
    provider: str = ""
    expires_at: datetime | None = None
    last_refresh: datetime | None = None
    namespaces: list[CredentialStatus] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)


def set_condition(conditions: list[Condition], new: Condition) -> list[Condition]:
    """Replace the condition of the same type; keep its transition time if status is unchanged."""
    old = next((c for c in conditions if c.type == new.type), None)
    if old is not None and old.status == new.status:
        new = new.model_copy(update={"last_transition_time": old.last_transition_time})
    return [*(c for c in conditions if c.type != new.type), new]


State = Literal["True", "False", "Unknown"]


def _ready(state: State, reason: str, message: str, now: datetime) -> Condition:
    return Condition(
        type="Ready", status=state, reason=reason, message=message, last_transition_time=now
    )


def ready_condition(status: CredentialStatus, now: datetime) -> Condition:
    """Ready is True while the secret holds an unexpired credential.

    A failing refresh keeps Ready True (reason RefreshFailing) until the old
    credential lapses: pulls still work, and should_warn raises the alarm.
    """
    if status.last_refresh is None:
        return _ready("False", "Pending", status.last_error or "not refreshed yet", now)
    if status.expires_at is not None and status.expires_at <= now:
        return _ready("False", "Expired", status.last_error or "credential expired", now)
    if status.last_error is not None:
        return _ready("True", "RefreshFailing", status.last_error, now)
    return _ready("True", "Refreshed", "", now)


def record_refresh(
    status: CredentialStatus, now: datetime, expires_at: datetime | None
) -> CredentialStatus:
    """Status after a successful refresh: the error clears, Ready recomputes."""
    update: dict[str, object] = {"last_refresh": now, "expires_at": expires_at}
    update.update(last_error=None, last_error_since=None)
    return _with_ready(status.model_copy(update=update), now)


def record_failure(
    status: CredentialStatus, now: datetime, error: str, secrets: list[str]
) -> CredentialStatus:
    """Status after a failed refresh; ``secrets`` are scrubbed from the stored error."""
    update: dict[str, object] = {
        "last_error": redact(error, secrets)[:1024],
        "last_error_since": status.last_error_since or now,
    }
    return _with_ready(status.model_copy(update=update), now)


def _with_ready(status: CredentialStatus, now: datetime) -> CredentialStatus:
    conditions = set_condition(status.conditions, ready_condition(status, now))
    return status.model_copy(update={"conditions": conditions})


def aggregate_status(
    per_namespace: list[CredentialStatus], provider: str, generation: int, now: datetime
) -> RegistryCredentialStatus:
    """Roll namespaces up: the earliest expiry, and Ready only if every namespace is Ready."""
    expiries = [s.expires_at for s in per_namespace if s.expires_at is not None]
    refreshes = [s.last_refresh for s in per_namespace if s.last_refresh is not None]
    not_ready = sorted(
        s.namespace
        for s in per_namespace
        if not any(c.type == "Ready" and c.status == "True" for c in s.conditions)
    )
    if not per_namespace:
        ready = _ready("False", "NoNamespaces", "no namespace selected", now)
    elif not_ready:
        ready = _ready("False", "NotReady", "not ready in: " + ", ".join(not_ready), now)
    else:
        ready = _ready("True", "Ready", "", now)
    return RegistryCredentialStatus(
        observed_generation=generation,
        provider=provider,
        expires_at=min(expiries, default=None),
        last_refresh=max(refreshes, default=None),
        namespaces=sorted(per_namespace, key=lambda s: s.namespace),
        conditions=[ready],
    )
