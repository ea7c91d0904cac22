"""Health vocabulary shared by every kind-specific assessor.

The status names and their severity order are Argo CD's (gitops-engine
``pkg/health``), so that people moving from Argo read the same words:

    Healthy < Suspended < Progressing < Missing < Degraded < Unknown

Argo ranks Unknown as the *least healthy* code: an object whose health cannot
be judged must not let the application look better than it is. ``worst`` and
``aggregate`` follow that order.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tether.engine.objects import Obj, meta, status_of


class HealthStatus(StrEnum):
    HEALTHY = "Healthy"
    SUSPENDED = "Suspended"
    PROGRESSING = "Progressing"
    MISSING = "Missing"
    DEGRADED = "Degraded"
    UNKNOWN = "Unknown"

    @property
    def severity(self) -> int:
        return SEVERITY_ORDER.index(self)


SEVERITY_ORDER: tuple[HealthStatus, ...] = (
    HealthStatus.HEALTHY,
    HealthStatus.SUSPENDED,
    HealthStatus.PROGRESSING,
    HealthStatus.MISSING,
    HealthStatus.DEGRADED,
    HealthStatus.UNKNOWN,
)


@dataclass(frozen=True)
class HealthResult:
    """The health of one object: a status, plain words, and a short machine reason."""

    status: HealthStatus
    message: str = ""
    reason: str = ""

    def to_json(self) -> dict[str, str]:
        return {"status": str(self.status), "message": self.message, "reason": self.reason}


def healthy(message: str = "", reason: str = "") -> HealthResult:
    return HealthResult(HealthStatus.HEALTHY, message, reason)


def progressing(message: str, reason: str = "Progressing") -> HealthResult:
    return HealthResult(HealthStatus.PROGRESSING, message, reason)


def degraded(message: str, reason: str = "Degraded") -> HealthResult:
    return HealthResult(HealthStatus.DEGRADED, message, reason)


def suspended(message: str, reason: str = "Suspended") -> HealthResult:
    return HealthResult(HealthStatus.SUSPENDED, message, reason)


def unknown(message: str, reason: str = "Unknown") -> HealthResult:
    return HealthResult(HealthStatus.UNKNOWN, message, reason)


def is_worse(candidate: HealthStatus, current: HealthStatus) -> bool:
    return candidate.severity > current.severity


def num(value: Any, default: int = 0) -> int:
    """An integer status field; absent or malformed counts as ``default``."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    return default


def generation_observed(obj: Obj) -> bool:
    """True once the controller has seen the latest spec (observedGeneration >= generation)."""
    generation = num(meta(obj).get("generation"))
    return generation <= num(status_of(obj).get("observedGeneration"))


def replicas_wanted(obj: Obj) -> int:
    spec = obj.get("spec") or {}
    value = spec.get("replicas")
    return num(value) if value is not None else 1
