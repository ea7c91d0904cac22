"""An in-memory AppService for contract tests of the HTTP layer and the UI smoke test.

Only the shapes matter here (what the controller returns); behaviour of the
real control plane is tested against the real thing elsewhere.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from tether.controller.service import ActionRefused, AppNotFound, AppService, SyncRequest
from tether.engine.objects import Obj

ADMIN_TOKEN = "tth_admin-secret"
READER_TOKEN = "tth_reader-secret"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
READER = {"Authorization": f"Bearer {READER_TOKEN}"}


def iso(minutes: float) -> str:
    """A timestamp ``minutes`` from now (negative: in the past), so pages read naturally."""
    when = datetime.now(UTC) + timedelta(minutes=minutes)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


SYNCED_AT = iso(-4)
SHA = "3f9c2e1a7b4d5c6e8f90a1b2c3d4e5f6a7b8c9d0"


def application(
    name: str,
    health: str = "Healthy",
    sync: str = "Synced",
    message: str = "",
    paused: bool = False,
) -> Obj:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": "tether",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": '{"secret": "leak"}'
            },
        },
        "spec": {
            "source": {
                "repoURL": f"https://git.example.com/acme/{name}.git",
                "targetRevision": "main",
                "path": "deploy/prod",
            },
            "destination": {"namespace": name},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
        "status": {
            "sync": {"status": sync, "revision": SHA},
            "health": {"status": health, "message": message},
            "revisionMessage": "Bump image to 1.4.2 and raise memory limit",
            "reconciledAt": iso(-1),
            "operationState": {
                "phase": "Succeeded",
                "message": "successfully synced",
                "startedAt": iso(-4.2),
                "finishedAt": SYNCED_AT,
            },
            "history": [
                {
                    "id": 0,
                    "revision": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
                    "deployedAt": iso(-2 * 24 * 60),
                    "initiatedBy": "auto-sync",
                    "message": "Initial deploy",
                },
                {
                    "id": 1,
                    "revision": SHA,
                    "deployedAt": SYNCED_AT,
                    "initiatedBy": "alice",
                    "message": "Bump image to 1.4.2 and raise memory limit",
                },
            ],
            "conditions": [],
            "autoSyncPaused": {
                "paused": paused,
                "reason": "a person changed the live Deployment; resume to let Git win again"
                if paused
                else "",
            },
        },
    }


def health(status: str, message: str = "") -> dict[str, str]:
    return {"status": status, "message": message, "reason": ""}


def node(
    uid: str,
    kind: str,
    name: str,
    ns: str,
    status: str = "Healthy",
    message: str = "",
    role: str = "child",
    revision: str = "",
    note: str = "",
    group: str = "",
) -> dict[str, Any]:
    return {
        "id": uid,
        "uid": uid,
        "group": group,
        "kind": kind,
        "namespace": ns,
        "name": name,
        "role": role,
        "health": health(status, message),
        "revision": revision,
        "owner": "",
        "note": note,
    }


def tree_for(name: str, degraded: bool) -> dict[str, Any]:
    ns = name
    pod_status = (
        ("Degraded", "ImagePullBackOff: no basic auth credentials")
        if degraded
        else (
            "Healthy",
            "Running",
        )
    )
    nodes = [
        node(
            f"{name}-dep",
            "Deployment",
            name,
            ns,
            "Degraded" if degraded else "Healthy",
            "ProgressDeadlineExceeded" if degraded else "",
            "managed",
            "2",
            group="apps",
        ),
        node(
            f"{name}-rs1",
            "ReplicaSet",
            f"{name}-5d8f7c9b4",
            ns,
            role="history",
            revision="1",
            note="rollout history, kept for rollback",
            group="apps",
        ),
        node(
            f"{name}-rs2",
            "ReplicaSet",
            f"{name}-7d9c6b5f8",
            ns,
            "Degraded" if degraded else "Healthy",
            revision="2",
            group="apps",
        ),
        node(f"{name}-pod1", "Pod", f"{name}-7d9c6b5f8-x2kqp", ns, *pod_status),
        node(f"{name}-pod2", "Pod", f"{name}-7d9c6b5f8-m9tzr", ns, *pod_status),
        node(f"{name}-svc", "Service", name, ns, role="managed"),
        node(f"{name}-eps", "EndpointSlice", f"{name}-8xk2p", ns, group="discovery.k8s.io"),
        node(f"{name}-cm", "ConfigMap", f"{name}-config", ns, role="managed"),
        node(f"{name}-sec", "Secret", f"{name}-db", ns, role="managed"),
    ]
    edges = [
        (f"{name}-dep", f"{name}-rs1"),
        (f"{name}-dep", f"{name}-rs2"),
        (f"{name}-rs2", f"{name}-pod1"),
        (f"{name}-rs2", f"{name}-pod2"),
        (f"{name}-svc", f"{name}-eps"),
    ]
    return {"nodes": nodes, "edges": [{"from": a, "to": b} for a, b in edges]}


SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db", "namespace": "guestbook"},
    "type": "Opaque",
    "data": {"password": "aHVudGVyMg=="},
    "stringData": {"token": "plain-secret"},
}


class FakeAppService(AppService):
    def __init__(self, extra_apps: int = 0) -> None:
        self.apps: dict[str, Obj] = {
            "guestbook": application("guestbook"),
            "finance-api": application(
                "finance-api",
                health="Degraded",
                message="Deployment finance-api: ProgressDeadlineExceeded",
            ),
            "paused-app": application("paused-app", sync="OutOfSync", paused=True),
        }
        for i in range(extra_apps):
            name = f"svc-{i:04d}"
            states = [("Healthy", "Synced"), ("Progressing", "OutOfSync"), ("Missing", "Unknown")]
            h, s = states[i % 3]
            self.apps[name] = application(name, health=h, sync=s)
        self.trees = {
            n: tree_for(n, a["status"]["health"]["status"] == "Degraded")
            for n, a in self.apps.items()
        }
        self.queues: list[asyncio.Queue[str]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.actions: list[tuple[str, str, Any]] = []

    def _app(self, name: str) -> Obj:
        if name not in self.apps:
            raise AppNotFound(name)
        return self.apps[name]

    def changed(self, name: str) -> None:
        for queue in self.queues:
            queue.put_nowait(name)

    def add_pod(self, name: str, pod: str) -> None:
        """Simulate a scale-out: a new Pod under the current ReplicaSet."""
        tree = self.trees[name]
        tree["nodes"].append(node(f"{name}-{pod}", "Pod", pod, name, "Progressing", "Pending"))
        tree["edges"].append({"from": f"{name}-rs2", "to": f"{name}-{pod}"})
        self.changed(name)

    async def list_apps(self) -> list[Obj]:
        return list(self.apps.values())

    async def get_app(self, name: str) -> Obj:
        return copy.deepcopy(self._app(name))

    async def tree(self, name: str) -> dict[str, Any]:
        self._app(name)
        return copy.deepcopy(self.trees[name])

    async def diff(self, name: str) -> list[dict[str, Any]]:
        self._app(name)
        return [
            {
                "group": "apps",
                "kind": "Deployment",
                "namespace": name,
                "name": name,
                "status": "OutOfSync",
                "diff": "--- live\n+++ git\n@@ spec.replicas @@\n-  replicas: 2\n+  replicas: 3\n",
            }
        ]

    async def history(self, name: str) -> list[dict[str, Any]]:
        return list(self._app(name)["status"]["history"])

    async def explain(self, name: str) -> dict[str, Any]:
        app = self._app(name)
        status = app["status"]["health"]["status"]
        if status == "Healthy":
            return {"status": "Healthy", "text": "Healthy app " + name, "chain": [], "nextStep": ""}
        chain = [
            {
                "kind": "Application",
                "name": name,
                "status": status,
                "reason": "",
                "cause": "",
                "headline": f"{status} app {name}",
            },
            {
                "kind": "Deployment",
                "name": name,
                "status": "Degraded",
                "reason": "ProgressDeadlineExceeded",
                "cause": "",
                "headline": f"Deployment {name} ProgressDeadlineExceeded",
            },
            {
                "kind": "Pod",
                "name": f"{name}-7d9c6b5f8-x2kqp",
                "status": "Degraded",
                "reason": "ImagePullBackOff",
                "cause": "no basic auth credentials",
                "headline": f"Pod {name}-7d9c6b5f8-x2kqp ImagePullBackOff",
            },
        ]
        return {
            "status": status,
            "chain": chain,
            "nextStep": "refresh the registry credential: `tether registry list`",
            "text": "\n".join(c["headline"] for c in chain),
        }

    async def events(self, name: str) -> list[dict[str, Any]]:
        self._app(name)
        return [
            {
                "type": "Warning",
                "reason": "Failed",
                "message": "Back-off pulling image",
                "object": f"Pod/{name}-7d9c6b5f8-x2kqp",
                "count": 12,
                "lastTimestamp": iso(-2),
            },
        ]

    async def resource(
        self, name: str, group: str, kind: str, namespace: str, resource_name: str
    ) -> dict[str, Any]:
        self._app(name)
        if kind == "Secret":
            manifest: Obj = copy.deepcopy(SECRET)
        else:
            manifest = {
                "apiVersion": f"{group}/v1" if group else "v1",
                "kind": kind,
                "metadata": {
                    "name": resource_name,
                    "namespace": namespace,
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
                },
                "spec": {"replicas": 2},
                "status": {"phase": "Running"},
            }
        return {
            "manifest": manifest,
            "events": [{"type": "Normal", "reason": "Scheduled", "message": "assigned to node"}],
            "diff": "" if kind == "Pod" else "-  replicas: 2\n+  replicas: 3\n",
        }

    async def sync(self, name: str, request: SyncRequest, *, initiated_by: str) -> dict[str, Any]:
        self._app(name)
        if request.revision == "refuse":
            raise ActionRefused("a sync is already running; wait for it or cancel it")
        self.actions.append(("sync", initiated_by, request))
        return {"phase": "Running", "message": "sync started", "dryRun": request.dry_run}

    async def rollback(self, name: str, history_id: int, *, initiated_by: str) -> dict[str, Any]:
        app = self._app(name)
        if history_id not in {h["id"] for h in app["status"]["history"]}:
            raise ActionRefused(f"no history entry {history_id}; see `tether app history {name}`")
        self.actions.append(("rollback", initiated_by, history_id))
        return {"phase": "Running", "message": f"rolling back to {history_id}"}

    async def resume(self, name: str, *, initiated_by: str) -> None:
        self._app(name)["status"]["autoSyncPaused"] = {"paused": False, "reason": ""}
        self.actions.append(("resume", initiated_by, None))
        self.changed(name)

    async def refresh(self, name: str) -> None:
        self._app(name)
        self.actions.append(("refresh", "", None))

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        if queue in self.queues:
            self.queues.remove(queue)


class FakeRegistries:
    async def list(self) -> list[dict[str, Any]]:
        return [
            {
                "name": "ecr-prod",
                "registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                "provider": "ecr",
                "expiresAt": iso(9 * 60),
                "lastRefresh": iso(-45),
                "lastError": "",
                "namespaces": [
                    {
                        "namespace": "guestbook",
                        "secretName": "ecr-pull",
                        "ready": True,
                        "expiresAt": iso(9 * 60),
                        "lastError": "",
                    },
                    {
                        "namespace": "finance-api",
                        "secretName": "ecr-pull",
                        "ready": False,
                        "expiresAt": iso(-3 * 60),
                        "lastError": "AccessDenied: not authorized: ecr:GetAuthorizationToken",
                    },
                ],
            }
        ]

    async def check(self, name: str) -> dict[str, Any]:
        if name != "ecr-prod":
            raise KeyError(name)
        return {"ok": True, "message": "pulled a manifest from the registry"}
