"""The working state of one reconcile pass, and what survives between passes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tether.adapters.kube import KubeClient
from tether.controller.compare import Comparison
from tether.controller.packed import pack, unpack, unpack_list
from tether.controller.sync import SyncOutcome
from tether.engine import application as appmodel
from tether.engine import objects, projects
from tether.engine.objects import Obj, ObjectKey
from tether.engine.tree import ResourceTree

if TYPE_CHECKING:
    from tether.controller.clusters import Connection


class Stop(Exception):
    """Ends a reconcile pass early with a condition (nothing applied)."""

    def __init__(self, ctype: str, message: str) -> None:
        super().__init__(message)
        self.ctype = ctype
        self.message = message


@dataclass
class AppMemory:
    """What survives between passes in this process (the cluster holds the rest)."""

    sync_errors: dict[ObjectKey, str] = field(default_factory=dict)
    failed_sha: str = ""
    attempts: int = 0
    # The Application as our own last write returned it, kept packed (controller.packed):
    # one per app, read once per pass.
    _latest: bytes | None = None
    # A status the API server refused to store for a while (429, 5xx): the app's uid, the
    # status, and the requested operation it records as done. The next pass starts from
    # it, so a sync it records is neither forgotten nor run a second time.
    unwritten: tuple[str, dict[str, Any], dict[str, Any] | None] | None = None
    # The keys of the last render (stubs: apiVersion, kind, name, namespace), packed too:
    # as dicts they were a few KiB per app, kept for the life of the process.
    _desired: bytes | None = None

    @property
    def desired(self) -> list[Obj]:
        return unpack_list(self._desired) if self._desired is not None else []

    @desired.setter
    def desired(self, stubs: list[Obj]) -> None:
        self._desired = pack(stubs) if stubs else None

    @property
    def latest(self) -> Obj | None:
        return unpack(self._latest) if self._latest is not None else None

    @latest.setter
    def latest(self, app: Obj | None) -> None:
        if app is None:
            self._latest = None
            return
        # Without managedFields, as the live cache holds it: passes never read them here.
        meta = {k: v for k, v in (app.get("metadata") or {}).items() if k != "managedFields"}
        self._latest = pack({**app, "metadata": meta})


@dataclass
class Pass:
    app: Obj
    status: dict[str, Any]
    spec: appmodel.ApplicationSpec | None = None
    operation: dict[str, Any] | None = None
    sha: str = ""
    desired: list[Obj] = field(default_factory=list)
    hooks: list[Obj] = field(default_factory=list)  # rendered hooks: run by syncs, never desired
    comparison: Comparison | None = None
    extras: list[ObjectKey] = field(default_factory=list)
    tree: ResourceTree | None = None
    outcome: SyncOutcome | None = None
    live_of: dict[ObjectKey, Obj | None] = field(default_factory=dict)  # as compared
    requeue_after: float | None = None
    # Who makes this app's dry runs and writes: the project's ServiceAccount
    # for the destination (impersonated), or None for the controller itself.
    writer: KubeClient | None = None
    project: projects.Project | None = None
    # The destination cluster's client and live cache (controller.clusters),
    # None until resolved; the Application itself always lives at home.
    cluster: Connection | None = None

    @property
    def cluster_ident(self) -> tuple[str, str] | None:
        """(server, name) of the destination cluster, once resolved."""
        if self.cluster is None:
            return None
        return self.cluster.cluster.server, self.cluster.cluster.name

    @property
    def name(self) -> str:
        return str(self.app["metadata"]["name"])

    @property
    def paused(self) -> bool:
        return appmodel.PAUSE_ANNOTATION in objects.annotations(self.app)


@dataclass
class Settings:
    app_namespace: str = "tether"
    poll_interval: float = 60.0
    jitter: float = 0.2
