"""Root-cause chains for unhealthy apps, from realistic cluster snapshots."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.engine.diagnosis import (
    CredentialFact,
    Diagnosis,
    PullSecretInfo,
    SyncError,
    diagnose,
)
from tether.engine.health import HealthStatus
from tether.engine.objects import ObjectKey, parse_time
from tether.engine.tree import build_tree

FIXTURES = Path(__file__).parent / "fixtures" / "diagnosis"
CASES = sorted(FIXTURES.glob("*.yaml"))


def when(value: Any) -> datetime | None:
    return parse_time(value) if value else None


def run(case: dict[str, Any]) -> Diagnosis:
    tree = build_tree(
        case.get("managed") or [],
        case.get("live") or [],
        app_name=case["app"],
        namespace=case["namespace"],
        events=case.get("events") or [],
    )
    status = HealthStatus(case["health"]) if "health" in case else tree.health()[0]
    errors = [
        SyncError(
            ObjectKey(e.get("group", ""), e["kind"], e.get("namespace", ""), e["name"]),
            e["message"],
            int(e.get("code", 0)),
        )
        for e in case.get("sync_errors") or []
    ]
    credentials = [
        CredentialFact(
            registry_pattern=c["registry_pattern"],
            secret_name=c["secret_name"],
            namespace=c["namespace"],
            expires_at=when(c.get("expires_at")),
            last_error=c.get("last_error", ""),
            last_error_since=when(c.get("last_error_since")),
            managed_by=c.get("managed_by", ""),
        )
        for c in case.get("credentials") or []
    ]
    pull_secrets = (
        [
            PullSecretInfo(s["name"], s["namespace"], tuple(s.get("registries") or ()))
            for s in case["pull_secrets"]
        ]
        if "pull_secrets" in case
        else None
    )
    now = parse_time(case["now"])
    assert now is not None
    return diagnose(
        case["app"],
        status,
        tree,
        now=now,
        events=case.get("events") or [],
        sync_errors=errors,
        credentials=credentials,
        pull_secrets=pull_secrets,
    )


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_diagnosis_chain_matches_fixture(path: Path) -> None:
    case = load(path)
    expect = case["expect"]
    result = run(case)
    text = result.to_text()
    assert str(result.status) == expect["status"], text
    assert [[link.kind, link.reason] for link in result.chain] == expect["chain"], text
    for fragment in expect.get("text_contains") or []:
        assert fragment in text, text
    assert expect["next_step_contains"] in result.next_step, text
    if "cause_contains" in expect:
        assert any(expect["cause_contains"] in link.cause for link in result.chain), text


def test_seed_chain_reads_as_arrows_from_app_to_next_step() -> None:
    result = run(load(FIXTURES / "expired_ecr_pull_secret.yaml"))
    assert result.to_text().splitlines() == [
        "Degraded app finance",
        "  <- Deployment finance-api ProgressDeadlineExceeded",
        "  <- Pod finance-api-7d9c4b6f8-x2x4q ImagePullBackOff",
        '  <- "no basic auth credentials" pulling '
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/finance-api:1.4",
        "  <- imagePullSecret ecr-pull expired 3 h ago",
        "  -> refresh the registry credential (managed by tether-registry): `tether registry list`",
    ]


def test_diagnosis_json_carries_chain_next_step_and_text() -> None:
    result = run(load(FIXTURES / "expired_ecr_pull_secret.yaml"))
    data = result.to_json()
    assert data["status"] == "Degraded"
    assert data["chain"][1] == {
        "kind": "Deployment",
        "name": "finance-api",
        "status": "Degraded",
        "reason": "ProgressDeadlineExceeded",
        "cause": data["chain"][1]["cause"],
        "headline": "Deployment finance-api ProgressDeadlineExceeded",
    }
    assert data["next_step"].startswith("refresh the registry credential")
    assert data["text"] == result.to_text()


def test_healthy_app_has_nothing_to_do() -> None:
    tree = build_tree([], [], app_name="finance", namespace="finance")
    result = diagnose("finance", HealthStatus.HEALTHY, tree, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert result.chain[0].kind == "App"
    assert result.next_step.startswith("nothing to do")


def test_verbose_text_adds_the_evidence_under_each_link() -> None:
    result = run(load(FIXTURES / "expired_ecr_pull_secret.yaml"))
    assert "pull access denied" in result.to_text(verbose=True)
    assert "pull access denied" not in result.to_text()
