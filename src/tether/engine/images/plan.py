"""One write-back as data: which files to read, how they change, the commit message.

The Git writer reads the files ``paths`` names, hands them to ``plan_edits``
and commits what comes back; nothing here touches Git or the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.engine.images import markers, select
from tether.engine.images import spec as model


def paths(spec: model.ImagePolicySpec) -> list[str]:
    wb = spec.write_back
    paths = list(wb.paths)
    if wb.kustomize is not None:
        paths.append(wb.kustomize.path)
    if wb.helm is not None:
        paths.append(wb.helm.file)
    return paths or [""]


def plan_edits(
    spec: model.ImagePolicySpec, target: markers.Target, files: Mapping[str, str]
) -> list[markers.FileEdit]:
    """Setter markers anywhere under the paths, then the kustomize and Helm targets."""
    edits = {e.path: e for e in markers.plan_markers(files, target)}
    wb = spec.write_back
    if wb.kustomize is not None:
        folder = wb.kustomize.path.strip("/")
        names = ("kustomization.yaml", "kustomization.yml", "Kustomization")
        path = next(
            (f"{folder}/{n}".lstrip("/") for n in names if f"{folder}/{n}".lstrip("/") in files),
            None,
        )
        if path is None:
            raise markers.MarkerError(f"no kustomization in {folder or 'the repository root'}")
        base = edits[path].after if path in edits else files[path]
        edit = markers.plan_kustomize(path, base, target, wb.kustomize.name)
        if edit is not None:
            edits[path] = _merged(edits.get(path), edit)
    if wb.helm is not None:
        path = wb.helm.file.strip("/")
        if path not in files:
            raise markers.MarkerError(f"Helm values file {path} not found")
        base = edits[path].after if path in edits else files[path]
        edit = markers.plan_helm(path, base, target, wb.helm.tag_key, wb.helm.name_key)
        if edit is not None:
            edits[path] = _merged(edits.get(path), edit)
    return [edits[p] for p in sorted(edits)]


def _merged(first: markers.FileEdit | None, second: markers.FileEdit) -> markers.FileEdit:
    if first is None:
        return second
    return markers.FileEdit(first.path, first.before, second.after, first.changes + second.changes)


def old_tag(edits: list[markers.FileEdit]) -> str:
    for edit in edits:
        for change in edit.changes:
            old = change.old.strip("\"'").split("@", 1)[0]
            if old:
                return old.rsplit(":", 1)[-1] if "/" in old or ":" in old else old
    return ""


def message(
    spec: model.ImagePolicySpec,
    target: markers.Target,
    namespace: str,
    name: str,
    old_status: dict[str, Any],
) -> str:
    values = {
        "image": spec.image,
        "tag": target.tag,
        "digest": target.digest,
        "old_tag": str(old_status.get("latestTag") or "previous"),
        "policy": name,
        "namespace": namespace,
        "new_image": target.value(),
    }
    return select.render_message(spec.write_back.commit.message_template, values)
