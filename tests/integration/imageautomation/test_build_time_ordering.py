"""pushTime on a plain v2 registry orders by build time: each image config's ``created``."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import secrets
import subprocess
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fixtures.registry import RegistryServer
from fixtures.waiting import await_for
from tether.adapters.registry.build_times import BuildTimes
from tether.adapters.registry.tags import list_tags
from tether.controller.runtime import Controller
from tether.engine.images.select import choose
from tether.engine.images.spec import Ordering

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
PUSH_TIME = Ordering.model_validate({"pushTime": {}})


class Layout:
    """An OCI image layout on disk whose images differ only in their build time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs/sha256").mkdir(parents=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        self.refs: list[dict[str, Any]] = []
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            info = tarfile.TarInfo("hello")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"hi\n"))
        self.diff_id = _digest(raw.getvalue())
        self.layer = self._blob(gzip.compress(raw.getvalue(), mtime=0))

    def _blob(self, data: bytes) -> dict[str, Any]:
        digest = _digest(data)
        (self.root / "blobs/sha256" / digest.split(":")[1]).write_bytes(data)
        return {"digest": digest, "size": len(data)}

    def image(self, created: str | None, arch: str = "amd64") -> dict[str, Any]:
        config: dict[str, Any] = {
            "architecture": arch,
            "os": "linux",
            "config": {"Env": [f"ARCH={arch}"]},
            "rootfs": {"type": "layers", "diff_ids": [self.diff_id]},
        }
        if created is not None:
            config["created"] = created
        config_blob = self._blob(json.dumps(config).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_blob},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **self.layer}],
        }
        return {
            "mediaType": OCI_MANIFEST,
            **self._blob(json.dumps(manifest).encode()),
            "platform": {"os": "linux", "architecture": arch},
        }

    def tag(self, tag: str, descriptor: dict[str, Any]) -> None:
        self.refs.append({**descriptor, "annotations": {"org.opencontainers.image.ref.name": tag}})
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.refs}
        (self.root / "index.json").write_text(json.dumps(index))

    def multi_arch(self, *images: dict[str, Any]) -> dict[str, Any]:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(images)}
        return {"mediaType": OCI_INDEX, **self._blob(json.dumps(index).encode())}


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def publish(registry_server: RegistryServer, tmp_path: Path) -> Any:
    """``publish(repository, tag, descriptor)``: skopeo copies a layout image to the registry."""
    layout = Layout(tmp_path / "layout")
    auth = tmp_path / "auth.json"
    login = base64.b64encode(f"ci:{registry_server.users['ci']}".encode()).decode()
    auth.write_text(json.dumps({"auths": {registry_server.host: {"auth": login}}}))

    def push(repository: str, tag: str, descriptor: dict[str, Any]) -> None:
        layout.tag(tag, descriptor)
        done = subprocess.run(
            ["skopeo", "copy", "--quiet", "--all", "--dest-tls-verify=false",
             f"--authfile={auth}", f"oci:{layout.root}:{tag}",
             f"docker://{registry_server.host}/{repository}:{tag}"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    push.layout = layout  # type: ignore[attr-defined]
    return push


def _login(registry: RegistryServer) -> tuple[str, str]:
    return "ci", registry.users["ci"]


def test_the_newest_build_wins_whatever_the_push_order(
    registry_server: RegistryServer, publish: Any
) -> None:
    repository = f"team/built-{secrets.token_hex(3)}"
    layout = publish.layout
    # pushed in this order; the middle one was built last
    publish(repository, "old", layout.image("2024-01-01T00:00:00Z"))
    publish(repository, "newest", layout.image("2024-05-01T10:00:00.123456789Z"))
    publish(repository, "rebuilt-old", layout.image("2024-03-01T00:00:00+01:00"))
    creds = _login(registry_server)
    listed = list_tags(registry_server.host, repository, creds)
    times = BuildTimes().annotate(registry_server.host, repository, listed, creds)
    by_name = {t.name: t for t in times}
    assert by_name["newest"].created == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert all(t.digest.startswith("sha256:") and t.pushed_at is None for t in times)
    assert choose(times, None, PUSH_TIME).tag == by_name["newest"]


def test_each_digest_config_is_read_once_and_a_retag_adds_no_read(
    registry_server: RegistryServer, publish: Any
) -> None:
    repository = f"team/cached-{secrets.token_hex(3)}"
    image = publish.layout.image("2024-02-02T02:02:02Z")
    publish(repository, "1", image)
    publish(repository, "1-again", image)  # same digest under a second tag
    publish(repository, "2", publish.layout.image("2024-02-03T00:00:00Z"))
    creds = _login(registry_server)
    times = BuildTimes()
    listed = list_tags(registry_server.host, repository, creds)
    first = times.annotate(registry_server.host, repository, listed, creds)
    assert times.configs_read == 2
    assert times.annotate(registry_server.host, repository, listed, creds) == first
    assert times.configs_read == 2


def test_a_multi_arch_index_takes_the_linux_amd64_build_time_and_no_created_is_ignored(
    registry_server: RegistryServer, publish: Any
) -> None:
    repository = f"team/multi-{secrets.token_hex(3)}"
    layout = publish.layout
    index = layout.multi_arch(
        layout.image("2030-01-01T00:00:00Z", arch="arm64"),
        layout.image("2024-06-01T00:00:00Z", arch="amd64"),
    )
    publish(repository, "multi", index)
    publish(repository, "undated", layout.image(None))
    creds = _login(registry_server)
    listed = list_tags(registry_server.host, repository, creds)
    by_name = {
        t.name: t for t in BuildTimes().annotate(registry_server.host, repository, listed, creds)
    }
    assert by_name["multi"].created == datetime(2024, 6, 1, tzinfo=UTC)
    assert by_name["undated"].created is None
    assert choose(list(by_name.values()), None, PUSH_TIME).tag == by_name["multi"]


async def test_a_push_time_policy_on_a_v2_registry_commits_the_newest_build(
    git_repo: Any,
    controller: Controller,
    policies: Any,
    registry_server: RegistryServer,
    publish: Any,
) -> None:
    repository = f"team/newest-{secrets.token_hex(3)}"
    image = f"{registry_server.host}/{repository}"
    layout = publish.layout
    publish(repository, "build-7", layout.image("2024-07-07T00:00:00Z"))
    publish(repository, "build-9", layout.image("2024-09-09T00:00:00Z"))
    publish(repository, "build-8", layout.image("2024-08-08T00:00:00Z"))
    git_repo.commit(
        {"app.yaml": f'image: {image}:build-7 # {{"$imagepolicy": "tether:newest-build"}}\n'}
    )
    await policies.create(
        {
            "image": image,
            "secretRef": {"name": await policies.pull_secret(registry_server)},
            "interval": "1s",
            "filterTags": {"pattern": "^build-"},
            "policy": {"pushTime": {}},
            "writeBack": {"repoURL": git_repo.git_url},
        },
        name="newest-build",
    )

    async def committed() -> dict[str, Any] | None:
        status = await policies.status("newest-build")
        return status if status.get("lastCommit") else None

    status = await await_for(committed, timeout=60, what="newest-build committed")
    assert status["latestTag"] == "build-9"
    git_repo.git("pull", "-q", "origin", "main")
    assert f"{image}:build-9 #" in (git_repo.work / "app.yaml").read_text()
