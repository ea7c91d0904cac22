"""CronJob health: suspended, or did the last scheduled run succeed.

Like Argo CD's built-in CronJob check: a run scheduled after the last
successful one that is no longer active has failed. When the caller passes
the CronJob's Jobs, the failing Job's own message is quoted.
"""

from collections.abc import Iterable

from tether.engine.health.job import assess_job
from tether.engine.health.status import (
    HealthResult,
    HealthStatus,
    degraded,
    healthy,
    progressing,
    suspended,
)
from tether.engine.objects import Obj, meta, parse_time, spec_of, status_of


def assess_cronjob(obj: Obj, children: Iterable[Obj] = ()) -> HealthResult:
    if spec_of(obj).get("suspend"):
        return suspended("CronJob is suspended")
    status = status_of(obj)
    scheduled = parse_time(status.get("lastScheduleTime"))
    succeeded = parse_time(status.get("lastSuccessfulTime"))
    if scheduled is None:
        return healthy("CronJob has not been scheduled yet", "NotScheduled")
    if succeeded is not None and succeeded >= scheduled:
        return healthy("the last run succeeded", "LastRunSucceeded")
    if status.get("active"):
        return progressing("the scheduled run is in progress", "Running")
    jobs = [c for c in children if c.get("kind") == "Job"]
    jobs.sort(key=lambda j: str(meta(j).get("creationTimestamp") or ""))
    if jobs:
        latest = assess_job(jobs[-1])
        if latest.status is HealthStatus.DEGRADED:
            name = meta(jobs[-1]).get("name", "")
            return degraded(f"the last run (Job {name}) failed: {latest.message}", "LastRunFailed")
    return degraded("the last scheduled run did not complete successfully", "LastRunFailed")
