"""pushTime orders by the registry's push time, else by the image's build time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from tether.adapters.registry.build_times import parse_created
from tether.engine.images.select import Tag, choose
from tether.engine.images.spec import Ordering

PUSH_TIME = Ordering.model_validate({"pushTime": {}})


def test_build_times_order_tags_when_the_registry_keeps_no_push_times() -> None:
    older = Tag("zzz", created=datetime(2024, 1, 1, tzinfo=UTC))
    newer = Tag("aaa", created=datetime(2024, 6, 1, tzinfo=UTC))
    undated = Tag("undated")
    choice = choose([older, undated, newer], None, PUSH_TIME)
    assert choice.tag == newer
    assert choice.candidates == 2


def test_a_push_time_wins_over_a_build_time() -> None:
    rebuilt = Tag("a", pushed_at=datetime(2024, 1, 1, tzinfo=UTC), created=datetime(2025, 1, 1))
    assert rebuilt.time == datetime(2024, 1, 1, tzinfo=UTC)
    pushed_later = Tag("b", pushed_at=datetime(2024, 2, 1, tzinfo=UTC))
    assert choose([rebuilt, pushed_later], None, PUSH_TIME).tag == pushed_later


def test_equal_build_times_fall_back_to_the_tag_name() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)  # reproducible builds
    tags = [Tag("v2", created=epoch), Tag("v10", created=epoch)]
    assert choose(tags, None, PUSH_TIME).tag == tags[0]


def test_created_is_read_as_go_writes_it() -> None:
    assert parse_created("2024-05-01T10:00:00.123456789Z") == datetime(
        2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC
    )
    assert parse_created("2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_created("2024-05-01T12:00:00.5+02:00") == datetime(
        2024, 5, 1, 12, 0, 0, 500000, tzinfo=timezone(timedelta(hours=2))
    )
    assert parse_created("2024-05-01T10:00:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_an_unusable_created_is_no_time_rather_than_an_error() -> None:
    for value in (None, "", 17, "yesterday", "2024-13-01T00:00:00Z", ["2024-01-01"]):
        assert parse_created(value) is None
