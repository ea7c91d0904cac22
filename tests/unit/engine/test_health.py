"""Health of single objects from realistic fixtures, and the application's aggregate."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.engine.health import (
    SEVERITY_ORDER,
    HealthResult,
    HealthStatus,
    aggregate,
    assess,
    worst,
)
from tether.engine.objects import ObjectKey, parse_time

FIXTURES = Path(__file__).parent / "fixtures" / "health"
CASES = sorted(FIXTURES.glob("*/*.yaml"))


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_object_health_matches_fixture(path: Path) -> None:
    case = load(path)
    now = parse_time(case.get("now"))
    result = assess(case["object"], case.get("children") or [], case.get("events") or [], now=now)
    expect = case["expect"]
    assert result.status == HealthStatus(expect["status"]), result
    if "reason" in expect:
        assert result.reason == expect["reason"], result
    if "message_contains" in expect:
        assert expect["message_contains"] in result.message, result


def test_every_required_kind_has_fixtures() -> None:
    kinds = {p.parent.name for p in CASES}
    assert {
        "deployment",
        "replicaset",
        "statefulset",
        "daemonset",
        "pod",
        "service",
        "ingress",
        "persistentvolumeclaim",
        "job",
        "cronjob",
        "horizontalpodautoscaler",
        "namespace",
        "customresourcedefinition",
        "generic",
    } <= kinds


def test_absent_object_is_missing() -> None:
    result = assess(None)
    assert result.status is HealthStatus.MISSING


def test_severity_order_is_argo_cds_with_unknown_worst() -> None:
    assert [s.value for s in SEVERITY_ORDER] == [
        "Healthy",
        "Suspended",
        "Progressing",
        "Missing",
        "Degraded",
        "Unknown",
    ]
    assert worst([HealthStatus.DEGRADED, HealthStatus.UNKNOWN]) is HealthStatus.UNKNOWN
    assert worst([]) is HealthStatus.HEALTHY


def test_app_health_is_the_worst_resource_told_by_that_resource() -> None:
    results = [
        (ObjectKey("", "Service", "finance", "finance-api"), HealthResult(HealthStatus.HEALTHY)),
        (
            ObjectKey("apps", "Deployment", "finance", "finance-api"),
            HealthResult(
                HealthStatus.DEGRADED,
                'Deployment "finance-api" exceeded its progress deadline',
                "ProgressDeadlineExceeded",
            ),
        ),
        (
            ObjectKey("networking.k8s.io", "Ingress", "finance", "finance"),
            HealthResult(HealthStatus.PROGRESSING, "Waiting for an address"),
        ),
    ]
    status, message = aggregate(results)
    assert status is HealthStatus.DEGRADED
    assert message.startswith("Deployment finance-api: ")
    assert "progress deadline" in message


def test_app_with_only_healthy_resources_is_healthy() -> None:
    key = ObjectKey("", "ConfigMap", "finance", "cfg")
    assert aggregate({key: HealthResult(HealthStatus.HEALTHY)})[0] is HealthStatus.HEALTHY
    assert aggregate([])[0] is HealthStatus.HEALTHY


def test_readiness_event_in_events_k8s_io_format_is_used() -> None:
    pod = load(FIXTURES / "pod" / "running_pod_not_ready_is_progressing.yaml")["object"]
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "web.1", "namespace": "shop"},
        "regarding": {"kind": "Pod", "namespace": "shop", "name": "web-5d8f7c9b6-abcde"},
        "reason": "Unhealthy",
        "type": "Warning",
        "eventTime": "2026-11-26T10:06:30.000000Z",
        "note": 'Readiness probe failed: Get "http://10.244.1.9:80/": connection refused',
    }
    result = assess(pod, events=[event])
    assert result.reason == "ReadinessProbeFailed"
    assert "connection refused" in result.message
