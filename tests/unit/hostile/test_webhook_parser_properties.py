"""The webhook parser on hostile input: any headers and any body, signed or not, give a
push, None or one WebhookError with an HTTP status, never another exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hostile_inputs import FAST, json_values
from hypothesis import given
from hypothesis import strategies as st

from tether.engine import webhook

SECRET = "s3cret"
PROVIDERS = {
    "github": ("X-GitHub-Event", "push", "X-Hub-Signature-256"),
    "gitea": ("X-Gitea-Event", "push", "X-Gitea-Signature"),
    "bitbucket": ("X-Event-Key", "repo:push", "X-Hub-Signature"),
    "gitlab": ("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token"),
}
PAYLOAD_KEYS = st.sampled_from(
    [
        "ref",
        "repository",
        "project",
        "links",
        "clone",
        "html",
        "self",
        "href",
        "changes",
        "clone_url",
        "html_url",
        "git_http_url",
        "web_url",
        "id",
    ]
)


def payloads() -> st.SearchStrategy[Any]:
    return st.recursive(
        st.one_of(json_values(3), st.text(max_size=10)),
        lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(PAYLOAD_KEYS, c, max_size=4)),
        max_leaves=20,
    )


def signed(provider: str, body: bytes) -> dict[str, str]:
    event_header, event, sig_header = PROVIDERS[provider]
    sig = SECRET if provider == "gitlab" else webhook.sign(SECRET, body)
    return {event_header: event, sig_header: sig}


def _push_none_or_webhook_error(headers: dict[str, str], body: bytes) -> None:
    try:
        push = webhook.parse(headers, body, SECRET)
    except webhook.WebhookError as exc:
        assert 400 <= exc.status < 600 and str(exc)
        return
    if push is not None:
        assert all(isinstance(u, str) and u for u in push.urls)
        assert isinstance(push.ref, str)


@FAST
@given(st.sampled_from(sorted(PROVIDERS)), payloads())
def test_a_signed_push_with_any_json_body_is_a_push_or_a_400(provider: str, payload: Any) -> None:
    body = json.dumps(payload).encode()
    _push_none_or_webhook_error(signed(provider, body), body)


@FAST
@given(st.sampled_from(sorted(PROVIDERS)), st.binary(max_size=200))
def test_a_signed_push_with_any_bytes_is_a_push_or_a_400(provider: str, body: bytes) -> None:
    _push_none_or_webhook_error(signed(provider, body), body)


@FAST
@given(
    st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=4), st.binary(max_size=100)
)
def test_any_headers_are_refused_or_parsed(headers: dict[str, str], body: bytes) -> None:
    _push_none_or_webhook_error(headers, body)


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2],
        "push",
        {"repository": "acme/finance"},
        {"repository": {"links": {"clone": ["x"]}}},
        {"repository": {"links": "x"}},
        {"project": ["x"]},
        {"changes": [{"ref": "main"}]},
        {"ref": None, "repository": {"clone_url": 5}},
    ],
)
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_signed_push_of_the_wrong_shape_is_a_400_not_a_crash(provider: str, payload: Any) -> None:
    body = json.dumps(payload).encode()
    _push_none_or_webhook_error(signed(provider, body), body)


def test_a_signed_push_nested_too_deeply_is_a_400_not_a_crash() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(webhook.WebhookError) as caught:
        webhook.parse(signed("github", body), body, SECRET)
    assert caught.value.status == 400
