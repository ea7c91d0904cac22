"""Tag filters and orderings on plain lists of tags."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tether.engine.images import webhook
from tether.engine.images.select import Tag, choose, render_message
from tether.engine.images.spec import FilterTags, Ordering, SpecError, parse_spec, repository_key
from tether.engine.webhook import WebhookError


def tags(*names: str) -> list[Tag]:
    return [Tag(n) for n in names]


def semver(rng: str) -> Ordering:
    return Ordering.model_validate({"semver": {"range": rng}})


def test_semver_range_picks_the_highest_inside_and_ignores_the_rest() -> None:
    listed = tags("1.4.0", "1.5.0", "2.0.0", "1.10.0", "latest", "1.11.0-rc.1", "v1.9.0")
    choice = choose(listed, None, semver(">=1.0.0 <2.0.0"))
    assert choice.tag == Tag("1.10.0")
    assert choose(listed, None, semver("~1.4")).tag == Tag("1.4.0")
    assert choose(listed, None, semver("^1.0.0-0")).tag == Tag("1.11.0-rc.1")


def test_no_tag_in_range_chooses_nothing_and_says_why() -> None:
    choice = choose(tags("2.0.0", "3.1.0"), None, semver("<2"))
    assert choice.tag is None
    assert "<2" in choice.reason


def test_filter_with_named_capture_orders_by_the_captured_part() -> None:
    listed = tags("main-abc123-100", "main-def456-99", "pr-7-1000", "main-zzz-7")
    flt = FilterTags(pattern=r"^main-[a-z0-9]+-(?P<ts>\d+)$", extract="$ts")
    numerical = Ordering.model_validate({"numerical": {"order": "asc"}})
    assert choose(listed, flt, numerical).tag == Tag("main-abc123-100")
    lowest = Ordering.model_validate({"numerical": {"order": "desc"}})
    assert choose(listed, flt, lowest).tag == Tag("main-zzz-7")


def test_filter_extracting_a_version_feeds_the_semver_ordering() -> None:
    listed = tags("api-v1.2.0", "api-v1.3.0", "web-v9.0.0")
    flt = FilterTags(pattern=r"^api-v(.+)$", extract="$1")
    assert choose(listed, flt, semver("1.x")).tag == Tag("api-v1.3.0")


def test_alphabetical_orders_date_stamped_tags() -> None:
    listed = tags("2024-05-01.1", "2024-12-24.3", "2024-06-30.2")
    asc = Ordering.model_validate({"alphabetical": {}})
    desc = Ordering.model_validate({"alphabetical": {"order": "desc"}})
    assert choose(listed, None, asc).tag == Tag("2024-12-24.3")
    assert choose(listed, None, desc).tag == Tag("2024-05-01.1")


def test_push_time_picks_the_latest_push_and_needs_push_times() -> None:
    first = Tag("abc", datetime(2024, 1, 1, tzinfo=UTC))
    later = Tag("xyz", datetime(2024, 2, 1, tzinfo=UTC))
    by_push = Ordering.model_validate({"pushTime": {}})
    assert choose([later, first], None, by_push).tag == later
    assert "push times" in choose(tags("a"), None, by_push).reason


def test_spec_refuses_two_orderings_a_tag_in_the_image_and_a_bad_range() -> None:
    base = {"image": "r.example.com/api", "writeBack": {"repoURL": "git://x/r.git"}}
    with pytest.raises(SpecError, match="exactly one"):
        parse_spec({**base, "policy": {"semver": {"range": "1.x"}, "alphabetical": {}}})
    with pytest.raises(SpecError, match=r"spec\.image"):
        parse_spec({**base, "image": "r.example.com/api:1.0", "policy": {"alphabetical": {}}})
    with pytest.raises(SpecError, match=r"policy\.semver\.range"):
        parse_spec({**base, "policy": {"semver": {"range": "nope"}}})
    spec = parse_spec({**base, "image": "127.0.0.1:5000/team/api", "policy": {"pushTime": {}}})
    assert (spec.host, spec.repository, spec.policy.kind) == (
        "127.0.0.1:5000",
        "team/api",
        "pushTime",
    )


def test_commit_message_template_fills_names_only() -> None:
    text = render_message("{image}:{tag} {unknown} {tag.__class__}", {"image": "a", "tag": "1"})
    assert text == "a:1 {unknown} {tag.__class__}"


def test_registry_push_webhooks_name_the_repository_and_need_the_secret() -> None:
    auth = {"Authorization": "Bearer s3cret"}
    distribution = {
        "events": [
            {"action": "pull", "target": {"repository": "a"}, "request": {"host": "r:5000"}},
            {"action": "push", "target": {"repository": "team/api"}, "request": {"host": "R:5000"}},
        ]
    }
    assert webhook.parse(auth, json.dumps(distribution).encode(), "s3cret") == ["r:5000/team/api"]
    harbor = {
        "type": "PUSH_ARTIFACT",
        "event_data": {"resources": [{"resource_url": "harbor.example.com/lib/api:1.0"}]},
    }
    assert webhook.parse(auth, json.dumps(harbor).encode(), "s3cret") == [
        "harbor.example.com/lib/api"
    ]
    hub = {"push_data": {"tag": "1"}, "repository": {"repo_name": "nginx"}}
    assert webhook.parse(auth, json.dumps(hub).encode(), "s3cret") == ["docker.io/library/nginx"]
    with pytest.raises(WebhookError) as caught:
        webhook.parse({"Authorization": "Bearer nope"}, b"{}", "s3cret")
    assert caught.value.status == 401
    with pytest.raises(WebhookError):
        webhook.parse(auth, b"{}", "")


def test_repository_keys_match_however_the_image_is_spelled() -> None:
    assert repository_key("R.example.com:5000/team/api") == "r.example.com:5000/team/api"
    assert repository_key("nginx") == repository_key("docker.io/library/nginx")
    assert repository_key("team/api") == "docker.io/team/api"


def test_tags_outside_the_oci_grammar_are_never_chosen() -> None:
    hostile = tags("zzz\nkind: Secret", "zzz: x", ".hidden", "a" * 129, "1.0.0")
    choice = choose(hostile, None, Ordering.model_validate({"alphabetical": {}}))
    assert choice.tag == Tag("1.0.0") and choice.candidates == 1
