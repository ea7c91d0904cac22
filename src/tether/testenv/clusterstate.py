"""The local control plane's record of itself: where it lives, how to reach it, and
the processes it started (``state.json``, so ``down`` stops exactly those)."""

from __future__ import annotations

import json
import ssl
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx


class ClusterError(RuntimeError):
    """The local control plane could not be started, reached or stopped."""


@dataclass
class Component:
    name: str
    pid: int
    log: str


@dataclass
class ClusterState:
    directory: str
    server: str
    kubeconfig: str
    ca_file: str
    token: str
    nodes: int
    components: list[Component] = field(default_factory=list)
    real_nodes: int = 0

    @property
    def path(self) -> Path:
        return Path(self.directory) / "state.json"

    def save(self) -> None:
        self.path.write_text(json.dumps(asdict(self), indent=2))
        self.path.chmod(0o600)

    @classmethod
    def load(cls, directory: Path) -> ClusterState | None:
        path = directory / "state.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["components"] = [Component(**c) for c in data.get("components", [])]
        return cls(**data)

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.server,
            verify=ssl.create_default_context(cafile=self.ca_file),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=timeout,
        )
