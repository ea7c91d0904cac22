"""Packed objects come back exactly as given, deflated when that makes them smaller."""

from __future__ import annotations

import os
import pickle

from tether.controller import packed


def _deployment(i: int) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"web-{i}",
            "namespace": f"app-{i}",
            "uid": f"0000-{i}",
            "labels": {"app.tether.dev/instance": f"app-{i}"},
            "creationTimestamp": "2026-12-02T14:43:00Z",
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:6.7.0"}]}},
        },
        "status": {"observedGeneration": 1, "conditions": [{"type": "Available"}]},
    }


def test_an_object_comes_back_equal_and_smaller_than_its_pickle() -> None:
    obj = _deployment(7)
    blob = packed.pack(obj)
    assert packed.unpack(blob) == obj
    assert len(blob) < len(pickle.dumps(obj, protocol=packed.PROTOCOL)) * 0.7


def test_values_json_would_change_come_back_with_their_types() -> None:
    obj = {"kind": "X", "metadata": {"name": "a"}, "data": (1, 2), "raw": b"\x00\xff", "n": 1.0}
    assert packed.unpack(packed.pack(obj)) == obj
    assert isinstance(packed.unpack(packed.pack(obj))["data"], tuple)


def test_a_blob_that_would_not_shrink_is_kept_as_its_pickle() -> None:
    obj = {"kind": "X", "metadata": {"name": "a"}, "noise": os.urandom(2048)}
    blob = packed.pack(obj)
    assert blob == pickle.dumps(obj, protocol=packed.PROTOCOL)
    assert packed.unpack(blob) == obj


def test_a_list_of_objects_round_trips() -> None:
    objs = [_deployment(i) for i in range(5)]
    assert packed.unpack_list(packed.pack(objs)) == objs
