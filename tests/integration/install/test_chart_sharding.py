"""The chart with `sharding.enabled`: every replica runs `--shards auto`, and the
controller's Role lets it hold and list shard Leases in its namespace only."""

from __future__ import annotations

from typing import Any

import pytest

from tether.controller import install
from tether.testenv.binaries import helm_path

NS = "tether-ops"

pytestmark = pytest.mark.skipif(
    not helm_path().exists(), reason="helm is installed by `make tools`"
)


def controller_args(**values: Any) -> list[str]:
    objects = install.render_chart(NS, values, helm_path=str(helm_path()))
    deploy = next(o for o in objects if o["kind"] == "Deployment")
    return list(deploy["spec"]["template"]["spec"]["containers"][0]["args"])


def test_sharding_enabled_runs_every_replica_with_shards_auto() -> None:
    objects = install.render_chart(
        NS, {"sharding": {"enabled": True}, "replicas": 3}, helm_path=str(helm_path())
    )
    deploy = next(o for o in objects if o["kind"] == "Deployment")
    assert deploy["spec"]["replicas"] == 3
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--shards=auto" in args
    assert "--leader-elect" in args  # the singletons keep their leader Lease


def test_sharding_is_off_by_default() -> None:
    assert not [a for a in controller_args() if a.startswith("--shards")]


def test_lease_rights_are_namespaced_and_cover_listing_and_deleting() -> None:
    objects = install.render_chart(NS, {}, helm_path=str(helm_path()))
    role = next(
        o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == install.LEADER_ROLE
    )
    assert role["metadata"]["namespace"] == NS
    verbs = {v for r in role["rules"] if "leases" in r["resources"] for v in r["verbs"]}
    assert {"create", "get", "list", "update", "delete"} <= verbs
    assert not [
        o
        for o in objects
        if o["kind"] == "ClusterRole"
        and any("leases" in r.get("resources", []) for r in o.get("rules", []))
    ]
