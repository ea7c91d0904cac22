"""Pod health, in the words kubelet and the scheduler use.

A Pod is where most application failures become visible, so the messages
here carry the concrete evidence (the registry's answer, the exit code, the
memory limit, the scheduler's verdict) that a person needs to act.
Rules follow Argo CD's ``health_pod.go``: a waiting reason that starts with
``Err`` or ends with ``Error``/``BackOff`` is Degraded in any phase.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from tether.engine.health.causes import classify_pull
from tether.engine.health.status import (
    HealthResult,
    HealthStatus,
    degraded,
    healthy,
    is_worse,
    progressing,
    unknown,
)
from tether.engine.objects import Obj, conditions, event_message, events_for, meta, status_of

PULL_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}
)


def is_failing_wait(reason: str) -> bool:
    return reason.startswith("Err") or reason.endswith("Error") or reason.endswith("BackOff")


def container_statuses(pod: Obj) -> list[dict[str, Any]]:
    status = status_of(pod)
    found = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    return [cs for cs in found if isinstance(cs, dict)]


def container_spec(pod: Obj, name: str) -> dict[str, Any]:
    spec = pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if isinstance(container, dict) and container.get("name") == name:
            return container
    return {}


def memory_limit(pod: Obj, container: str) -> str:
    resources = container_spec(pod, container).get("resources") or {}
    return str((resources.get("limits") or {}).get("memory") or "")


def last_termination(cs: dict[str, Any]) -> dict[str, Any]:
    state = cs.get("state") or {}
    if isinstance(state.get("terminated"), dict):
        return dict(state["terminated"])
    last = (cs.get("lastState") or {}).get("terminated")
    return dict(last) if isinstance(last, dict) else {}


def describe_exit(pod: Obj, container: str, term: dict[str, Any]) -> tuple[str, str]:
    """(reason, words) for a terminated container."""
    code = term.get("exitCode")
    why = str(term.get("reason") or "Error")
    if why == "OOMKilled":
        limit = memory_limit(pod, container)
        at = f"its memory limit {limit}" if limit else "node memory (no memory limit set)"
        return "OOMKilled", f"container {container} was OOMKilled: it used more than {at}"
    return why, f"container {container} exited with code {code} ({why})"


def pull_failure_detail(pod: Obj, events: Sequence[Obj]) -> str:
    """The registry's answer from the newest failed-pull Event, if kubelet reported one."""
    for event in reversed(events_for(pod, events)):
        text = event_message(event)
        if event.get("reason") == "Failed" and "image" in text.lower():
            return text
    return ""


def pull_detail(pod: Obj, cs: dict[str, Any], events: Sequence[Obj]) -> str:
    """Why ``cs`` cannot pull its image, in the registry's words.

    The container's waiting message is the current state: kubelet writes the
    last pull error into it (under ImagePullBackOff too, after
    "Back-off pulling image ...: ErrImagePull:"). Events are history: an older
    attempt's error, or a relay without the error at all. So the waiting
    message wins when it says what went wrong; otherwise the newest
    failed-pull Event, which often carries the full registry answer.
    """
    waiting = (cs.get("state") or {}).get("waiting") or {}
    text = str(waiting.get("message") or "")
    image = str(cs.get("image") or "")
    if text and classify_pull(text.replace(image, "") if image else text)[0] != "other":
        return text
    return pull_failure_detail(pod, events) or text


def container_problem(pod: Obj, events: Sequence[Obj]) -> HealthResult | None:
    for cs in container_statuses(pod):
        name = str(cs.get("name", ""))
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason") or "")
        if not reason or not is_failing_wait(reason):
            continue
        text = str(waiting.get("message") or "")
        if reason == "CrashLoopBackOff":
            restarts = cs.get("restartCount", 0)
            term = last_termination(cs)
            if term:
                why, words = describe_exit(pod, name, term)
                if why == "OOMKilled":
                    return degraded(f"{words}; restarted {restarts} times", "OOMKilled")
                return degraded(f"{words}; restarted {restarts} times", "CrashLoopBackOff")
            return degraded(f"container {name} is crash-looping: {text}", "CrashLoopBackOff")
        if reason in PULL_REASONS:
            image = cs.get("image") or container_spec(pod, name).get("image") or ""
            detail = pull_detail(pod, cs, events)
            return degraded(f"container {name} cannot pull image {image}: {detail}", reason)
        return degraded(f"container {name} is waiting: {reason}: {text}".rstrip(": "), reason)
    return None


def pending(pod: Obj, events: Sequence[Obj]) -> HealthResult:
    scheduled = conditions(pod).get("PodScheduled") or {}
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        said = str(scheduled.get("message") or "no node fits the Pod")
        own = events_for(pod, events)
        if own and own[-1].get("reason") == "TriggeredScaleUp":
            return progressing(f"waiting for a new node ({event_message(own[-1])}): {said}")
        return degraded(f"the scheduler cannot place the Pod: {said}", "Unschedulable")
    for cs in container_statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return progressing(f"container {cs.get('name')}: {waiting['reason']}", "Pending")
    return progressing(str(status_of(pod).get("message") or "Pod is pending"), "Pending")


def running_not_ready(pod: Obj, events: Sequence[Obj]) -> HealthResult:
    for event in reversed(events_for(pod, events)):
        text = event_message(event)
        if event.get("reason") == "Unhealthy" and text.startswith("Readiness probe failed"):
            return progressing(f"Pod is running but not ready: {text}", "ReadinessProbeFailed")
    ready = conditions(pod).get("Ready") or {}
    words = str(ready.get("message") or "containers are not ready yet")
    return progressing(f"Pod is running but not ready: {words}", "NotReady")


def failed(pod: Obj) -> HealthResult:
    status = status_of(pod)
    if status.get("reason") or status.get("message"):
        reason = str(status.get("reason") or "Failed")
        return degraded(str(status.get("message") or reason), reason)
    for cs in container_statuses(pod):
        term = last_termination(cs)
        if term and term.get("exitCode") not in (0, None):
            why, words = describe_exit(pod, str(cs.get("name", "")), term)
            return degraded(words, why)
    return degraded("Pod failed", "Failed")


def assess_pod(pod: Obj, events: Sequence[Obj] = ()) -> HealthResult:
    problem = container_problem(pod, events)
    if problem is not None:
        return problem
    phase = status_of(pod).get("phase")
    restart_policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    if phase == "Succeeded":
        return healthy("Pod completed", "Completed")
    if phase == "Failed":
        return failed(pod)
    if phase == "Pending":
        return pending(pod, events)
    if phase == "Running":
        if restart_policy != "Always":
            return progressing("Pod is running to completion", "Running")
        if (conditions(pod).get("Ready") or {}).get("status") == "True":
            return healthy("Pod is running and ready", "Running")
        return running_not_ready(pod, events)
    return unknown(f"Pod phase is {phase or 'not reported'}")


def worst_pod(children: Iterable[Obj], events: Sequence[Obj]) -> tuple[str, HealthResult] | None:
    """The name and health of the worst unhealthy Pod among ``children``."""
    found: tuple[str, HealthResult] | None = None
    for child in children:
        if child.get("kind") != "Pod" or meta(child).get("deletionTimestamp"):
            continue
        result = assess_pod(child, events)
        if result.status is HealthStatus.HEALTHY:
            continue
        if found is None or is_worse(result.status, found[1].status):
            found = (str(meta(child).get("name", "")), result)
    return found


def with_pod_note(
    result: HealthResult, children: Iterable[Obj], events: Sequence[Obj]
) -> HealthResult:
    """Adds the worst Pod's trouble to a workload that is still rolling out."""
    if result.status is not HealthStatus.PROGRESSING:
        return result
    pods = [c for c in children if c.get("kind") == "Pod"]
    worst = worst_pod(pods, events)
    if worst is None or worst[1].status is not HealthStatus.DEGRADED:
        return result
    name, pod_result = worst
    message = f"{result.message} Pod {name}: {pod_result.reason}: {pod_result.message}"
    return HealthResult(result.status, message, result.reason)
