"""OCI image layouts written from streamed layer tarballs, with no daemon and no builder.

The images Tether ships and tests with are a few large layers (a Debian root
filesystem, Python packages, a Go binary), too big to hold in memory, and most
builds change only the last layer. So each layer is written to disk as a tar,
hashed while it is gzipped, and stored once under a *recipe key*: the hash of
everything that went into it. A build whose recipe did not change costs a file
lookup. Tar entries get fixed owners and mtimes, so a recipe gives the same
bytes wherever the inputs are the same.

An image is an OCI image layout directory (``oci-layout``, ``index.json``,
``blobs/sha256/...``) that ``skopeo copy oci:DIR:TAG docker://...`` pushes,
and :func:`archive` packs it as the tar ``ctr images import`` reads.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
PLATFORM = {"architecture": "amd64", "os": "linux"}
_CHUNK = 1024 * 1024


def digest_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def recipe_key(*parts: Any) -> str:
    """A stable hash of JSON-able recipe inputs (paths, versions, file hashes)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def hash_tree(root: Path, patterns: Iterable[str] = ("**/*",)) -> str:
    """The hash of every file's path and content under ``root`` (``__pycache__`` ignored)."""
    h = hashlib.sha256()
    files = {p for pattern in patterns for p in root.glob(pattern) if p.is_file()}
    for path in sorted(files):
        if "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


class LayerWriter:
    """Writes one layer tar: entries in the order given, parents created as needed."""

    def __init__(self, fileobj: IO[bytes], mtime: int = 0) -> None:
        # The writer owns the tar for the length of one build callback; close() ends it.
        self.tar = tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self.mtime = mtime
        self._seen: set[str] = set()

    def _info(self, name: str, kind: bytes, mode: int, uid: int, gid: int) -> tarfile.TarInfo:
        name = name.strip("/")
        self._parents(name)
        self._seen.add(name)
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = kind, mode, self.mtime
        info.uid, info.gid = uid, gid
        return info

    def _parents(self, name: str) -> None:
        parts = name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in self._seen:
                self.dir(parent)

    def dir(self, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, uid, gid))

    def file(self, name: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
        info = self._info(name, tarfile.REGTYPE, mode, uid, gid)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))

    def symlink(self, name: str, target: str) -> None:
        info = self._info(name, tarfile.SYMTYPE, 0o777, 0, 0)
        info.linkname = target
        self.tar.addfile(info)

    def tree(self, name: str, source: Path, uid: int = 0, gid: int = 0) -> None:
        """``source`` (a directory) as ``name``: files, dirs and symlinks, sorted, owned by root."""
        self.dir(name, uid=uid, gid=gid)
        for path in sorted(source.rglob("*")):
            rel = f"{name.strip('/')}/{path.relative_to(source).as_posix()}"
            if path.is_symlink():
                self.symlink(rel, os.readlink(path))
            elif path.is_dir():
                self.dir(rel, uid=uid, gid=gid)
            elif path.is_file():
                mode = 0o755 if os.access(path, os.X_OK) else 0o644
                self.file(rel, path.read_bytes(), mode, uid, gid)

    def member(self, info: tarfile.TarInfo, fileobj: IO[bytes] | None) -> None:
        """Copy an entry of another tar (a root filesystem), with this writer's mtime."""
        info = copy.copy(info)
        info.name = _relative(info.name)
        info.mtime = self.mtime
        if info.islnk():
            info.linkname = _relative(info.linkname)
        if not info.name:
            return
        self._seen.add(info.name)
        self.tar.addfile(info, fileobj)

    def close(self) -> None:
        self.tar.close()


@dataclass(frozen=True)
class Layer:
    """A gzip layer blob on disk with its digest, the diff_id of its tar, and sizes."""

    digest: str
    diff_id: str
    size: int
    uncompressed: int
    blob: Path
    comment: str

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "diff_id": self.diff_id,
            "size": self.size,
            "uncompressed": self.uncompressed,
            "comment": self.comment,
        }


class LayerStore:
    """Layer blobs under ``root/blobs`` and ``root/layers/<recipe key>.json`` records."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.records = root / "layers"

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest.split(":", 1)[1]

    def cached(self, key: str) -> Layer | None:
        record = self.records / f"{key}.json"
        if not record.exists():
            return None
        data = json.loads(record.read_text())
        layer = Layer(blob=self.blob_path(data["digest"]), **data)
        return layer if layer.blob.exists() else None

    def layer(self, key: str, comment: str, build: Callable[[LayerWriter], None]) -> Layer:
        """The layer of ``key``, built by ``build(writer)`` only when it is not stored yet."""
        found = self.cached(key)
        if found is not None:
            return found
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.records.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="layer-", dir=self.root) as tmp:
            raw = Path(tmp) / "layer.tar"
            with open(raw, "wb") as fh:
                writer = LayerWriter(fh)
                build(writer)
                writer.close()
            layer = self._store(raw, Path(tmp), comment)
        record = self.records / f"{key}.json"
        partial = record.with_name(f"{record.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(layer.to_json(), sort_keys=True))
        partial.replace(record)
        return layer

    def _store(self, raw: Path, tmp: Path, comment: str) -> Layer:
        diff = hashlib.sha256()
        gz_path = tmp / "layer.tar.gz"
        with (
            open(raw, "rb") as src,
            open(gz_path, "wb") as out,
            gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as gz,
        ):
            while chunk := src.read(_CHUNK):
                diff.update(chunk)
                gz.write(chunk)
        blob_hash = hashlib.sha256()
        with open(gz_path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                blob_hash.update(chunk)
        digest = "sha256:" + blob_hash.hexdigest()
        target = self.blob_path(digest)
        os.replace(gz_path, target)
        return Layer(
            digest=digest,
            diff_id="sha256:" + diff.hexdigest(),
            size=target.stat().st_size,
            uncompressed=raw.stat().st_size,
            blob=target,
            comment=comment,
        )


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an image config: how a container of it starts."""

    entrypoint: list[str]
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    exposed_ports: list[int] = field(default_factory=list)

    def to_json(self, layers: list[Layer]) -> dict[str, Any]:
        runtime: dict[str, Any] = {"Entrypoint": self.entrypoint, "Env": self.env}
        if self.cmd:
            runtime["Cmd"] = self.cmd
        if self.user:
            runtime["User"] = self.user
        if self.workdir:
            runtime["WorkingDir"] = self.workdir
        if self.labels:
            runtime["Labels"] = self.labels
        if self.exposed_ports:
            runtime["ExposedPorts"] = {f"{p}/tcp": {} for p in self.exposed_ports}
        return {
            **PLATFORM,
            "created": "1970-01-01T00:00:00Z",
            "config": runtime,
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": [
                {"created": "1970-01-01T00:00:00Z", "created_by": layer.comment} for layer in layers
            ],
        }


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def write_layout(target: Path, layers: list[Layer], config: ImageConfig, tag: str) -> str:
    """Write an OCI image layout at ``target`` (kept if it exists); return the manifest digest.

    ``target`` is named by the image's recipe, so an existing one has the same content.
    """
    config_blob = json.dumps(config.to_json(layers), sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": digest_bytes(config_blob),
            "size": len(config_blob),
        },
        "layers": [
            {"mediaType": OCI_LAYER, "digest": layer.digest, "size": layer.size} for layer in layers
        ],
    }
    manifest_blob = json.dumps(manifest, sort_keys=True).encode()
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest_bytes(manifest_blob),
                "size": len(manifest_blob),
                "platform": PLATFORM,
                "annotations": {REF_NAME: tag},
            }
        ],
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{target.name}.", suffix=".partial", dir=target.parent))
    blobs = partial / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for layer in layers:
        _link_or_copy(layer.blob, blobs / layer.digest.split(":", 1)[1])
    for blob in (config_blob, manifest_blob):
        (blobs / digest_bytes(blob).split(":", 1)[1]).write_bytes(blob)
    (partial / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (partial / "index.json").write_text(json.dumps(index, sort_keys=True))
    try:
        partial.rename(target)
    except OSError:  # written meanwhile by another build of the same recipe: same content
        shutil.rmtree(partial)
    return digest_bytes(manifest_blob)


def archive(layout: Path, target: Path, image_name: str) -> Path:
    """The layout as one tar for ``ctr images import``, its manifest named ``image_name``."""
    index = json.loads((layout / "index.json").read_text())
    for entry in index["manifests"]:
        entry.setdefault("annotations", {})[CONTAINERD_NAME] = image_name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    with tarfile.open(partial, mode="w") as tar:
        for path in sorted((layout / "blobs" / "sha256").iterdir()):
            tar.add(path, arcname=f"blobs/sha256/{path.name}", filter=_normalize)
        for name, data in (
            ("oci-layout", (layout / "oci-layout").read_bytes()),
            ("index.json", json.dumps(index, sort_keys=True).encode()),
        ):
            info = _normalize(tarfile.TarInfo(name))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    partial.replace(target)
    return target


def _relative(name: str) -> str:
    return name.removeprefix("./").strip("/")


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o644
    return info
