"""Triggers, subscriptions, services and signatures on plain data."""

from __future__ import annotations

import json

from tether.engine import notifications as n


def op(
    phase: str, finished: str, revision: str = "abc", by: str = "automated"
) -> dict[str, object]:
    return {
        "operationState": {
            "phase": phase,
            "finishedAt": finished,
            "revision": revision,
            "initiatedBy": by,
            "message": f"sync {phase}",
        }
    }


def triggers(notices: list[n.Notice]) -> list[str]:
    return [x.trigger for x in notices]


def test_a_finished_sync_is_news_once() -> None:
    done = op("Succeeded", "t1")
    assert triggers(n.transitions("a", "ns", {}, done)) == [n.SYNC_SUCCEEDED]
    assert n.transitions("a", "ns", done, done) == []
    assert triggers(n.transitions("a", "ns", done, op("Failed", "t2", "def"))) == [n.SYNC_FAILED]
    dry = {"operationState": {**op("Succeeded", "t3")["operationState"], "dryRun": True}}  # type: ignore[dict-item]
    assert n.transitions("a", "ns", done, dry) == []


def test_an_automated_sync_of_the_already_synced_revision_is_a_drift_revert() -> None:
    first = op("Succeeded", "t1", "abc")
    assert triggers(n.transitions("a", "ns", first, op("Succeeded", "t2", "abc"))) == [
        n.SYNC_SUCCEEDED,
        n.DRIFT_REVERTED,
    ]
    assert n.DRIFT_REVERTED not in triggers(
        n.transitions("a", "ns", first, op("Succeeded", "t2", "new"))
    )
    manual = op("Succeeded", "t2", "abc", by="alice")
    assert n.DRIFT_REVERTED not in triggers(n.transitions("a", "ns", first, manual))


def test_health_degraded_and_recovered_through_progressing() -> None:
    def health(status: str) -> dict[str, object]:
        return {"health": {"status": status, "message": status.lower()}}

    assert triggers(n.transitions("a", "ns", health("Healthy"), health("Degraded"))) == [
        n.HEALTH_DEGRADED
    ]
    assert n.transitions("a", "ns", health("Degraded"), health("Progressing"), degraded=True) == []
    recovered = n.transitions("a", "ns", health("Progressing"), health("Healthy"), degraded=True)
    assert triggers(recovered) == [n.HEALTH_RECOVERED]
    assert n.transitions("a", "ns", health("Progressing"), health("Healthy")) == []


def test_argo_cd_subscription_annotations_are_read() -> None:
    subs = n.subscriptions(
        {
            "notifications.argoproj.io/subscribe.on-sync-failed.slack": "ops;dev",
            "notifications.tether.dev/subscribe.on-image-updated.hook": "",
            "notifications.argoproj.io/subscribe.broken": "x",
            "other": "y",
        }
    )
    assert subs == [
        n.Subscription("on-sync-failed", "slack", ("ops", "dev")),
        n.Subscription("on-image-updated", "hook", ()),
    ]


def test_services_take_secrets_by_reference_and_bad_ones_are_named() -> None:
    services, problems = n.parse_services(
        {
            "service.webhook.hook": "url: http://127.0.0.1:1/x\nsigningSecret: $hmac\n",
            "service.slack": "url: $slack-url\n",
            "service.webhook.bad": "url: $missing\n",
            "trigger.on-x": "ignored",
        },
        {"hmac": "s3cret", "slack-url": "https://hooks.example.com/T/B/X"},
    )
    assert sorted(services) == ["hook", "slack"]
    assert services["hook"].signing_secret == "s3cret"
    assert services["slack"].kind == "slack"
    assert problems == ["service.webhook.bad: Secret tether-notifications has no key 'missing'"]
    assert "s3cret" not in repr(services["hook"])


def test_payloads_and_signatures() -> None:
    notice = n.Notice(n.SYNC_FAILED, "api", "tether", "apply refused", "k1", "abc123")
    hook = n.Service("hook", "webhook", "http://x", signing_secret="k")
    body = n.payload(notice, hook)
    assert json.loads(body)["trigger"] == "on-sync-failed"
    assert n.verify("k", body, n.signature("k", body))
    assert not n.verify("other", body, n.signature("k", body))
    slack = json.loads(n.payload(notice, n.Service("slack", "slack", "http://x"), "#ops"))
    assert slack["channel"] == "#ops"
    assert slack["text"] == "api: sync failed: apply refused"
    assert slack["attachments"][0]["color"] == "#e96d76"
    assert [n.backoff(i, 1.0, 5.0) for i in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]


def test_teams_and_google_chat_payloads() -> None:
    notice = n.Notice(n.HEALTH_DEGRADED, "api", "tether", "deadline exceeded", "k", "abc")
    services, _ = n.parse_services(
        {
            "service.teams": "url: https://t.example.com/x",
            "service.googlechat.dev": "url: https://c/x",
        },
        {},
    )
    teams = json.loads(n.payload(notice, services["teams"]))
    assert teams["@type"] == "MessageCard"
    assert teams["themeColor"] == "e96d76"
    assert teams["sections"][0]["facts"] == [{"name": "revision", "value": "abc"}]
    chat = json.loads(n.payload(notice, services["dev"]))
    assert chat == {"text": "*api: health degraded*\ndeadline exceeded"}


def test_registry_credential_refresh_failing_and_expiring_are_news_once() -> None:
    def status(ready: str, expiring: str) -> dict[str, object]:
        return {
            "expiresAt": "2026-01-01T12:00:00Z",
            "conditions": [
                {"type": "Ready", "status": ready, "reason": "AccessDenied", "message": "denied"},
                {"type": "Expiring", "status": expiring, "message": "lapses in 20m"},
            ],
        }

    ok, failing = status("True", "False"), status("False", "False")
    assert triggers(n.credential_transitions("ecr", ok, failing)) == [n.CREDENTIAL_REFRESH_FAILED]
    assert n.credential_transitions("ecr", failing, failing) == []
    lapsing = status("False", "True")
    [notice] = n.credential_transitions("ecr", failing, lapsing)
    assert (notice.trigger, notice.message) == (n.CREDENTIAL_EXPIRING, "lapses in 20m")
    assert notice.details["expiresAt"] == "2026-01-01T12:00:00Z"
