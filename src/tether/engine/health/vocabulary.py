"""The words controllers use for health, and which way each one points.

Custom resources speak a handful of dialects: kstatus conditions (``Ready``,
``Reconciling``, ``Stalled``), Crossplane's ``Synced``/``Ready``, Knative's
``Ready``/``Succeeded``, Kubernetes' own ``Available``/``Established``, and a
free-form ``status.phase`` or ``status.state``. The generic rule only trusts
words listed here; anything else is "not understood", never "healthy".

Condition polarity: for a *positive* type True is good and False is bad; for
a *negative* type (``Stalled``, ``Degraded``, ``Failed``...) True is bad.
``Reconciling`` and ``Progressing`` say work is under way while True.
"""

import re

POSITIVE_CONDITIONS = (
    "Ready",
    "Available",
    "Synced",
    "Healthy",
    "Succeeded",
    "Established",
    "Complete",
    "Completed",
    "Reconciled",
    "Accepted",
    "Programmed",
    "Valid",
    "Installed",
)
NEGATIVE_CONDITIONS = (
    "Stalled",
    "Failed",
    "Failure",
    "Degraded",
    "Error",
    "ReconcileError",
    "ReconciliationFailed",
    "Unhealthy",
)
WORKING_CONDITIONS = ("Reconciling", "Progressing")

# Reasons a controller gives while it is still working, not failing.
PROGRESS_WORDS = (
    "progress",
    "pending",
    "wait",
    "reconcil",
    "creat",
    "initializ",
    "provision",
    "updat",
    "install",
    "upgrad",
    "deploy",
    "start",
    "scaling",
    "issuing",
    "rollingout",
)
# Reasons that end a Progressing=False condition as a failure, not a finish.
FAILURE_WORDS = ("deadline", "fail", "error", "abort", "timeout", "timedout", "invalid")

PHASES_HEALTHY = frozenset(
    {
        "running",
        "succeeded",
        "success",
        "successful",
        "completed",
        "complete",
        "done",
        "ready",
        "active",
        "bound",
        "available",
        "healthy",
        "established",
        "deployed",
        "synced",
        "online",
        "provisioned",
        "current",
        "ok",
        "valid",
        "up",
        "enabled",
        "configured",
    }
)
PHASES_PROGRESSING = frozenset(
    {
        "pending",
        "progressing",
        "inprogress",
        "creating",
        "provisioning",
        "initializing",
        "initialising",
        "updating",
        "upgrading",
        "installing",
        "deploying",
        "starting",
        "scaling",
        "reconciling",
        "waiting",
        "queued",
        "new",
        "deleting",
        "terminating",
        "restarting",
        "rollingupdate",
    }
)
PHASES_DEGRADED = frozenset(
    {
        "failed",
        "failure",
        "error",
        "errored",
        "degraded",
        "unhealthy",
        "crashed",
        "crashloopbackoff",
        "invalid",
        "rejected",
        "lost",
        "unavailable",
        "stalled",
        "aborted",
        "timeout",
        "timedout",
        "expired",
    }
)
PHASES_SUSPENDED = frozenset(
    {"suspended", "paused", "stopped", "hibernated", "hibernating", "scaleddown", "disabled"}
)
# Words not listed above are read by their parts: "PartiallyFailed" and
# "FailedValidation" fail, "WaitingForPluginOperations" and "Finalizing" work.
PHASE_FAILURE_PARTS = ("fail", "error", "crash", "invalid", "unhealthy", "degrad")
PHASE_PROGRESS_PARTS = (*PROGRESS_WORDS, "finaliz", "terminat", "delet", "schedul", "running")


def phase_word_status(word: str) -> str | None:
    """Healthy, Progressing, Degraded or Suspended for a normalised phase word, or None."""
    for status, words in (
        ("Degraded", PHASES_DEGRADED),
        ("Suspended", PHASES_SUSPENDED),
        ("Progressing", PHASES_PROGRESSING),
        ("Healthy", PHASES_HEALTHY),
    ):
        if word in words:
            return status
    if any(part in word for part in PHASE_FAILURE_PARTS):
        return "Degraded"
    if any(part in word for part in PHASE_PROGRESS_PARTS):
        return "Progressing"
    return None


def sounds_in_progress(reason: str) -> bool:
    lowered = normal(reason)
    return any(word in lowered for word in PROGRESS_WORDS)


def sounds_failed(reason: str) -> bool:
    lowered = normal(reason)
    return any(word in lowered for word in FAILURE_WORDS)


def normal(word: str) -> str:
    """``In Progress``, ``in_progress`` and ``InProgress`` are the same word."""
    return re.sub(r"[\s_\-]", "", word).lower()
