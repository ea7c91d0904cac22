"""The pushes recorded on the ``tether-pushes`` Lease: one entry per repository, however spelled,
and nothing a hostile annotation holds is taken for a push."""

from __future__ import annotations

import json

from tether.controller.pushes import PREFIX, key_for, pushes_of


def _lease(annotations: dict[str, str]) -> dict[str, object]:
    return {"metadata": {"name": "tether-pushes", "annotations": annotations}}


def test_every_spelling_of_a_repository_shares_one_entry() -> None:
    https = key_for("https://git.example.com/finance/app.git")
    assert key_for("https://git.example.com/finance/app") == https
    assert key_for("https://GIT.example.com/finance/app.git/") == https
    assert key_for("https://git.example.com/finance/other.git") != https


def test_an_entry_is_a_valid_annotation_name() -> None:
    key = key_for("ssh://git@git.example.com:2222/finance/app.git")
    prefix, name = key.split("/")
    assert f"{prefix}/" == PREFIX and len(name) <= 63 and name.isalnum()


def test_recorded_pushes_are_read_back() -> None:
    url = "https://git.example.com/finance/app.git"
    value = json.dumps({"url": url, "at": 1764720000.5, "by": "replica-a"})
    (push,) = pushes_of(_lease({key_for(url): value})).values()
    assert (push.url, push.at, push.by) == (url, 1764720000.5, "replica-a")


def test_malformed_and_foreign_annotations_are_skipped() -> None:
    lease = _lease(
        {
            PREFIX + "a": "not json",
            PREFIX + "b": json.dumps({"url": "u"}),
            PREFIX + "c": json.dumps({"url": "u", "at": "soon", "by": "x"}),
            PREFIX + "d": json.dumps(["u", 1, "x"]),
            "other.example.com/note": json.dumps({"url": "u", "at": 1, "by": "x"}),
        }
    )
    assert pushes_of(lease) == {}
    assert pushes_of({"metadata": {}}) == {}
