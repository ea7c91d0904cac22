"""Small OCI images written by hand, for real nodes that never pull from the internet.

A real node needs a pause image for every Pod sandbox, and tests need a tiny
image that serves HTTP. Both are one layer of static binaries, so instead of
a builder we write the OCI image layout ourselves (one gzip layer, a config,
a manifest, an index) as a tar that ``ctr images import`` accepts. Files get
fixed owners and mtimes, so the same inputs give the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class File:
    """One entry of the image's single layer: a file, or a symlink when ``link`` is set."""

    path: str
    data: bytes = b""
    mode: int = 0o644
    link: str = ""


@dataclass
class Image:
    """What goes into the image: its reference, its files and how it starts."""

    ref: str
    files: list[File] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=lambda: ["PATH=/bin"])
    user: str = ""
    exposed_ports: list[int] = field(default_factory=list)


def _layer(files: list[File]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for f in sorted(files, key=lambda f: f.path):
            parts = f.path.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo(f.path.strip("/"))
            if f.link:
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, f.link, 0o777
                tar.addfile(info)
            else:
                info.size, info.mode = len(f.data), f.mode
                tar.addfile(info, io.BytesIO(f.data))
    return raw.getvalue()


@dataclass(frozen=True)
class Built:
    """The blobs of an image: its one gzip layer, its config and its manifest."""

    layer: bytes
    config: bytes
    manifest: bytes

    @staticmethod
    def digest(data: bytes) -> str:
        return f"sha256:{hashlib.sha256(data).hexdigest()}"


def build(image: Image) -> Built:
    layer_tar = _layer(image.files)
    layer_gz = gzip.compress(layer_tar, mtime=0)
    runtime: dict[str, Any] = {
        "Env": image.env,
        "Entrypoint": image.entrypoint or None,
        "Cmd": image.cmd or None,
        "User": image.user,
        "ExposedPorts": {f"{p}/tcp": {} for p in image.exposed_ports} or None,
    }
    config: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "config": {k: v for k, v in runtime.items() if v is not None},
        "rootfs": {"type": "layers", "diff_ids": [Built.digest(layer_tar)]},
        "history": [{"created_by": "tether testenv", "comment": "built without a daemon"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": Built.digest(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {"mediaType": OCI_LAYER, "digest": Built.digest(layer_gz), "size": len(layer_gz)}
        ],
    }
    return Built(layer_gz, config_bytes, json.dumps(manifest, sort_keys=True).encode())


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_archive(image: Image, target: Path) -> Path:
    """Write ``image`` as an OCI image-layout tar at ``target``; returns ``target``."""
    built = build(image)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": Built.digest(built.manifest),
                "size": len(built.manifest),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": image.ref,
                    "org.opencontainers.image.ref.name": image.ref.rsplit(":", 1)[-1],
                },
            }
        ],
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with tarfile.open(partial, mode="w") as tar:
        for blob in (built.layer, built.config, built.manifest):
            _add(tar, f"blobs/sha256/{Built.digest(blob).split(':', 1)[1]}", blob)
        _add(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        _add(tar, "index.json", json.dumps(index, sort_keys=True).encode())
    partial.rename(target)
    return target


def pause_image(pause_binary: Path, ref: str) -> Image:
    """The Pod sandbox image: the locally built static pause binary, nothing else."""
    return Image(
        ref=ref,
        files=[File("pause", pause_binary.read_bytes(), 0o755)],
        entrypoint=["/pause"],
        env=[],
        user="65535:65535",
    )


def busybox_http_image(ref: str, body: str, port: int = 8080) -> Image:
    """A tiny HTTP server image: Debian's static busybox running ``httpd`` on ``port``.

    ``/`` answers ``body``, ``/healthz`` answers ``ok``. Runs as an unprivileged user.
    """
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        raise FileNotFoundError("/bin/busybox is missing: apt-get install busybox-static")
    return Image(
        ref=ref,
        files=[
            File("bin/busybox", busybox.read_bytes(), 0o755),
            File("bin/sh", link="busybox"),
            File("www/index.html", body.encode()),
            File("www/healthz", b"ok\n"),
            File("tmp/.keep"),
        ],
        entrypoint=["/bin/busybox", "httpd", "-f", "-v", "-p", str(port), "-h", "/www"],
        user="65534:65534",
        exposed_ports=[port],
    )
