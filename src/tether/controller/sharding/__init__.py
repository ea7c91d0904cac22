"""Sharded replicas: membership by one Lease per replica, and fencing of app ownership.

Every replica holds a ``coordination.k8s.io/v1`` Lease of its own
(``tether-shard-<identity>``, labelled ``tether.dev/shard-group``) and lists
the others'. The live members are the input of ``engine.sharding.Ring``,
which names the owner of each app.

- ``leases``: the Leases on the API server (this replica's own, the group's list);
- ``keeper``: the renewals and lists, on a thread and a connection of their own;
- ``roster``: the other members as their Leases were seen: live, expired, stale;
- ``member``: what this replica may reconcile, hand-over and fencing;
- ``metrics``: the shard gauges.
"""

from tether.controller.sharding.leases import (
    DEFAULT_GROUP,
    GROUP_LABEL,
    LEASE_PREFIX,
    MEMBERS_ANNOTATION,
    lease_name,
)
from tether.controller.sharding.member import SHARD_TIMING, AppShards, ShardMember
from tether.controller.sharding.metrics import ShardCollector

__all__ = [
    "DEFAULT_GROUP",
    "GROUP_LABEL",
    "LEASE_PREFIX",
    "MEMBERS_ANNOTATION",
    "SHARD_TIMING",
    "AppShards",
    "ShardCollector",
    "ShardMember",
    "lease_name",
]
