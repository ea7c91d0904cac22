"""The Leases of a shard group on the API server: this replica's own, and the list of all.

Only I/O and the shape of a Lease live here; what the Leases mean (who is live,
who owns an app) is ``roster.py`` and ``member.py``.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from tether.adapters.kube import KubeClient
from tether.controller import leader
from tether.engine.objects import Obj

LEASE_PREFIX = "tether-shard-"
GROUP_LABEL = "tether.dev/shard-group"
MEMBERS_ANNOTATION = "tether.dev/shard-members"
DEFAULT_GROUP = "tether"


def lease_name(identity: str) -> str:
    """``tether-shard-<identity>``, cut to the 253 characters a name may have."""
    return (LEASE_PREFIX + identity.lower())[:253]


def published_members(lease: Obj) -> tuple[str, ...]:
    """The member list a Lease's holder acts on (``tether.dev/shard-members``)."""
    annotations = (lease.get("metadata") or {}).get("annotations") or {}
    return tuple(m for m in str(annotations.get(MEMBERS_ANNOTATION, "")).split(",") if m)


def written_at(lease: Obj) -> float | None:
    """When the API server last stored a change to ``lease`` (epoch seconds, whole seconds:
    the latest ``managedFields`` time), or None. Written by the server, never by a replica,
    so two of these compare even when the replicas' clocks disagree."""
    times = []
    for entry in (lease.get("metadata") or {}).get("managedFields") or []:
        with contextlib.suppress(TypeError, ValueError):
            stamp = str(entry.get("time") or "").replace("Z", "+00:00")
            times.append(datetime.fromisoformat(stamp).timestamp())
    return max(times, default=None)


class ShardLeases:
    """This replica's Lease in ``group`` (create, renew, release) and the group's list."""

    def __init__(self, kube: KubeClient, namespace: str, group: str, identity: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.group = group
        self.identity = identity
        self.name = lease_name(identity)

    async def list(self) -> list[Obj]:
        api = await self.kube.resource_for(leader.API_VERSION, leader.KIND)
        items, _ = await self.kube.list(
            api, self.namespace, label_selector=f"{GROUP_LABEL}={self.group}"
        )
        return items

    async def renew(self, members: tuple[str, ...], duration: float) -> bool:
        now = leader.micro_time()
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(duration)),
            "renewTime": now,
        }
        annotations = {MEMBERS_ANNOTATION: ",".join(members)}
        labels = {GROUP_LABEL: self.group, "app.kubernetes.io/part-of": "tether"}
        lease = await self.kube.get_or_none(
            leader.API_VERSION, leader.KIND, self.name, self.namespace
        )
        if lease is None:
            await self.kube.create(
                {
                    "apiVersion": leader.API_VERSION,
                    "kind": leader.KIND,
                    "metadata": {
                        "name": self.name,
                        "namespace": self.namespace,
                        "labels": labels,
                        "annotations": annotations,
                    },
                    "spec": {**spec, "acquireTime": now},
                }
            )
            return True
        meta = dict(lease["metadata"])
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        old = lease.get("spec") or {}
        await self.kube.replace(
            {
                **lease,
                "metadata": meta,
                "spec": {**spec, "acquireTime": old.get("acquireTime") or now},
            }
        )
        return True

    async def release(self) -> bool:
        """Clear the holder (False when the Lease is gone or no longer ours)."""
        lease = await self.kube.get_or_none(
            leader.API_VERSION, leader.KIND, self.name, self.namespace
        )
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return False
        spec = dict(lease.get("spec") or {})
        spec.pop("holderIdentity", None)
        spec["leaseDurationSeconds"] = 1
        spec["renewTime"] = leader.micro_time()
        meta = dict(lease["metadata"])
        meta["annotations"] = {**(meta.get("annotations") or {}), MEMBERS_ANNOTATION: ""}
        await self.kube.replace({**lease, "metadata": meta, "spec": spec})
        return True

    async def delete(self, name: str) -> None:
        """Delete another member's Lease; a failure is left for a later pass to retry."""
        with contextlib.suppress(Exception):
            await self.kube.delete(leader.API_VERSION, leader.KIND, name, self.namespace)
