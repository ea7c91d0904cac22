"""Job health from its Complete / Failed / Suspended conditions (Argo CD's ``health_job.go``)."""

from tether.engine.health.status import HealthResult, degraded, healthy, num, progressing, suspended
from tether.engine.objects import Obj, conditions, status_of


def assess_job(obj: Obj) -> HealthResult:
    conds = conditions(obj)
    failed = conds.get("Failed") or {}
    if failed.get("status") == "True":
        reason = str(failed.get("reason") or "Failed")
        return degraded(str(failed.get("message") or "Job failed"), reason)
    complete = conds.get("Complete") or {}
    if complete.get("status") == "True":
        return healthy(str(complete.get("message") or "Job completed"), "Complete")
    if (conds.get("Suspended") or {}).get("status") == "True":
        return suspended("Job is suspended")
    status = status_of(obj)
    return progressing(
        f"Job is running: {num(status.get('active'))} active, {num(status.get('succeeded'))} "
        f"succeeded, {num(status.get('failed'))} failed",
        "Running",
    )
