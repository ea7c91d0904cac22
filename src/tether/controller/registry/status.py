"""RegistryCredential status as a pure function of what the last refreshes left behind.

The reconciler loop in ``registry.py`` decides when to fetch and where to write;
this module turns per-namespace results into the object's status for ``now``:
Ready (with a configuration error overriding the roll-up, so a missing Secret
or invalid spec is named plainly) and ``Expiring`` (a credential will lapse
within warnBefore while its refresh fails). Also the small spec helpers the
loop needs. Nothing here sees a credential value.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from tether.engine.registry import spec as model
from tether.engine.registry import status as rstatus
from tether.engine.registry.spec import RegistryCredentialSpec
from tether.engine.registry.status import CredentialStatus

EXPIRING = "Expiring"  # condition raised while a credential will lapse and refresh fails


def build(
    old: rstatus.RegistryCredentialStatus,
    statuses: list[CredentialStatus],
    *,
    provider: str,
    generation: int,
    now: datetime,
    config_error: tuple[str, str] | None,
    warn_before: timedelta,
) -> tuple[rstatus.RegistryCredentialStatus, rstatus.Condition]:
    """The status to write and its Expiring condition; transition times carry over."""
    statuses = [
        s.model_copy(
            update={
                "conditions": rstatus.set_condition(s.conditions, rstatus.ready_condition(s, now))
            }
        )
        for s in statuses
    ]
    new = rstatus.aggregate_status(statuses, provider, generation, now)
    ready = _with_failure(new.conditions[0], statuses)
    if config_error is not None:
        reason, message = config_error
        ready = ready.model_copy(update={"status": "False", "reason": reason, "message": message})
    conditions = rstatus.set_condition(old.conditions, ready)
    lapsing = [
        s for s in statuses if model.should_warn(s.expires_at, now, warn_before, s.last_error)
    ]
    expiring = expiring_condition(lapsing, now)
    conditions = rstatus.set_condition(conditions, expiring)
    return new.model_copy(update={"conditions": conditions}), expiring


def _with_failure(ready: rstatus.Condition, statuses: list[CredentialStatus]) -> rstatus.Condition:
    """The roll-up says why refreshes fail: a source that is down must show on the object
    (``kubectl get -o yaml``), not only in its per-namespace details, hours before
    Expiring is raised."""
    failing = sorted((s for s in statuses if s.last_error), key=lambda s: s.namespace)
    if not failing:
        return ready
    error = failing[0].last_error
    if ready.status == "True":
        where = ", ".join(s.namespace for s in failing)
        message = f"refresh failing in {where}; the current credential still works: {error}"
        return ready.model_copy(update={"reason": "RefreshFailing", "message": message})
    return ready.model_copy(update={"message": f"{ready.message}: {error}"})


def expiring_condition(lapsing: list[CredentialStatus], now: datetime) -> rstatus.Condition:
    if not lapsing:
        return rstatus.Condition(
            type=EXPIRING, status="False", reason="NotExpiring", last_transition_time=now
        )
    first = min(lapsing, key=lambda s: s.expires_at or now)
    where = ", ".join(s.namespace for s in lapsing)
    assert first.expires_at is not None
    if first.expires_at <= now:
        reason = "Expired"
        words = f"pull credential in {where} expired {_human(now - first.expires_at)} ago"
    else:
        reason = "RefreshFailing"
        words = f"pull credential in {where} expires in {_human(first.expires_at - now)}"
    if first.last_error:
        words += f" and refresh is failing: {first.last_error}"
    return rstatus.Condition(
        type=EXPIRING, status="True", reason=reason, message=words, last_transition_time=now
    )


def validation_message(exc: ValidationError) -> str:
    """Pydantic's errors without the offending input (an exec env value may be a secret)."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def decode_secret(secret: dict[str, Any]) -> dict[str, str | bytes]:
    out: dict[str, str | bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        raw = base64.b64decode(value or "")
        try:
            out[key] = raw.decode()
        except UnicodeDecodeError:
            out[key] = raw
    for key, value in (secret.get("stringData") or {}).items():
        out[key] = str(value)
    return out


def secret_ref(spec: RegistryCredentialSpec) -> model.SecretRef | None:
    provider = spec.provider
    if provider.basic is not None:
        return provider.basic.secret_ref
    if provider.ecr is not None:
        return provider.ecr.credentials_secret_ref
    return None


def fetch_host(spec: RegistryCredentialSpec) -> str:
    exe = spec.provider.exec_
    if exe is not None and exe.registry_host:
        return exe.registry_host.split("/")[0]
    return spec.registry.split("/")[0]


def _human(delta: timedelta) -> str:
    return model.format_duration(timedelta(seconds=max(int(abs(delta.total_seconds())), 1)))
