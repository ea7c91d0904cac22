"""A RegistryCredential's own Ready condition names a failing refresh.

Found by the chaos suite: with the ECR API down, every namespace recorded the
error, but the credential's Ready condition stayed ``True``/``Ready`` with no
message (and an expired one said only "not ready in: ..."), so nothing on the
object itself said why until Expiring was raised an hour before expiry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tether.controller.registry import status
from tether.engine.registry import status as rstatus
from tether.engine.registry.status import CredentialStatus

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DOWN = "Unreachable: ECR GetAuthorizationToken in eu-west-1: cannot connect to http://ecr"


def namespace(name: str, *, expires_in: timedelta, error: str | None) -> CredentialStatus:
    st = CredentialStatus(namespace=name, secret_name="pull")
    st = rstatus.record_refresh(st, NOW - timedelta(hours=1), NOW + expires_in)
    return rstatus.record_failure(st, NOW, error, []) if error else st


def ready_of(statuses: list[CredentialStatus]) -> rstatus.Condition:
    new, _ = status.build(
        rstatus.RegistryCredentialStatus(),
        statuses,
        provider="ecr",
        generation=1,
        now=NOW,
        config_error=None,
        warn_before=timedelta(hours=1),
    )
    return next(c for c in new.conditions if c.type == "Ready")


def test_a_failing_refresh_shows_on_the_credential_while_its_login_still_works() -> None:
    ready = ready_of(
        [
            namespace("a", expires_in=timedelta(hours=5), error=DOWN),
            namespace("b", expires_in=timedelta(hours=5), error=None),
        ]
    )
    assert (ready.status, ready.reason) == ("True", "RefreshFailing")
    assert "in a;" in ready.message and DOWN in ready.message


def test_an_expired_credential_says_why_it_was_not_refreshed() -> None:
    ready = ready_of([namespace("a", expires_in=-timedelta(minutes=1), error=DOWN)])
    assert (ready.status, ready.reason) == ("False", "NotReady")
    assert ready.message == f"not ready in: a: {DOWN}"


def test_a_healthy_credential_keeps_a_plain_ready_condition() -> None:
    ready = ready_of([namespace("a", expires_in=timedelta(hours=5), error=None)])
    assert (ready.status, ready.reason, ready.message) == ("True", "Ready", "")
