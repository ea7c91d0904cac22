"""The OCI layout writer on its own: every digest and size in a layout matches its blob."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from tether.testenv import ocilayout
from tether.testenv.ocilayout import ImageConfig, LayerStore, LayerWriter


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write(layer: LayerWriter) -> None:
    layer.file("app/bin/run", b"#!/bin/sh\necho hi\n", 0o755)
    layer.symlink("app/current", "bin")
    layer.dir("data", mode=0o1777, uid=1000, gid=1000)


def test_layout_digests_sizes_and_diff_ids_match_their_blobs(tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "store")
    layer = store.layer("k1", "test layer", write)
    config = ImageConfig(entrypoint=["/app/bin/run"], user="1000:1000", labels={"a": "b"})
    layout = tmp_path / "layout"
    digest = ocilayout.write_layout(layout, [layer], config, "1.0")

    def blob(d: str) -> bytes:
        return (layout / "blobs" / "sha256" / d.split(":", 1)[1]).read_bytes()

    index = json.loads((layout / "index.json").read_text())
    entry = index["manifests"][0]
    assert entry["digest"] == digest and entry["annotations"][ocilayout.REF_NAME] == "1.0"
    manifest_bytes = blob(digest)
    assert sha(manifest_bytes) == digest and len(manifest_bytes) == entry["size"]
    manifest = json.loads(manifest_bytes)
    config_bytes = blob(manifest["config"]["digest"])
    assert len(config_bytes) == manifest["config"]["size"]
    image_config = json.loads(config_bytes)
    (layer_desc,) = manifest["layers"]
    compressed = blob(layer_desc["digest"])
    assert sha(compressed) == layer_desc["digest"] and len(compressed) == layer_desc["size"]
    raw = gzip.decompress(compressed)
    assert image_config["rootfs"]["diff_ids"] == [sha(raw)]
    assert image_config["config"]["User"] == "1000:1000"
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}

    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = {m.name: m for m in tar}
    assert list(members) == ["app", "app/bin", "app/bin/run", "app/current", "data"]
    assert {m.mtime for m in members.values()} == {0}
    assert members["app/current"].linkname == "bin" and members["data"].uid == 1000


def test_a_stored_layer_is_reused_and_identical_recipes_give_identical_blobs(
    tmp_path: Path,
) -> None:
    calls: list[int] = []

    def counted(layer: LayerWriter) -> None:
        calls.append(1)
        write(layer)

    first = LayerStore(tmp_path / "a").layer("k", "c", counted)
    again = LayerStore(tmp_path / "a").layer("k", "c", counted)
    other = LayerStore(tmp_path / "b").layer("k", "c", counted)
    assert calls == [1, 1]  # the second call in store a was a cache hit
    assert first == again and first.digest == other.digest and first.diff_id == other.diff_id
