"""Jsonnet files of a plain directory, as Argo CD evaluates them.

A directory source renders every selected ``*.jsonnet`` file beside its YAML
and JSON manifests (``*.libsonnet`` files are libraries, imported, never
rendered). ``directory.jsonnet`` carries Argo CD's options: ``libs`` (extra
import directories, relative to the repository root), ``extVars`` and
``tlas`` (each ``{name, value, code}``; ``code: true`` makes the value Jsonnet
code rather than a string). A file's output is one object, a ``List``, or an
array of either, nested arrays flattened.

Evaluation runs in a child process (``jsonnet_worker``) under the render
sandbox: no network, a timeout, and an output cap, because a Jsonnet program
can recurse or allocate without bound and cannot be stopped in-process.
Imports are served from the repository copy and may not leave it.
"""

from __future__ import annotations

import json
import os
import posixpath
import sys
import tempfile
from pathlib import Path
from typing import Any

from tether.adapters.render import limits, sandbox
from tether.adapters.render.errors import RenderError
from tether.adapters.render.files import RepoFiles, clean_path, materialise, trim_tool_output
from tether.adapters.render.manifests import objects_from_documents
from tether.adapters.render.source import JsonnetOptions
from tether.engine.objects import Obj

TIMEOUT_SECONDS = 60
JSONNET_SUFFIX = ".jsonnet"
LIBRARY_SUFFIX = ".libsonnet"


def is_jsonnet_file(path: str) -> bool:
    return path.lower().endswith(JSONNET_SUFFIX)


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [item for element in value for item in _flatten(element)]
    return [value]


def _request(root: Path, files: list[str], options: JsonnetOptions) -> dict[str, Any]:
    libs = [clean_path(lib, f"directory.jsonnet.libs entry '{lib}'") for lib in options.libs]
    request: dict[str, Any] = {
        "root": str(root),
        "files": files,
        "libs": [lib or "." for lib in libs],
        "ext_vars": {},
        "ext_codes": {},
        "tla_vars": {},
        "tla_codes": {},
    }
    for var in options.ext_vars:
        request["ext_codes" if var.code else "ext_vars"][var.name] = var.value
    for var in options.tlas:
        request["tla_codes" if var.code else "tla_vars"][var.name] = var.value
    return request


def render_jsonnet(
    repo_files: RepoFiles, files: list[str], options: JsonnetOptions
) -> list[tuple[str, Obj]]:
    """(repository path, object) for each object the Jsonnet ``files`` evaluate to."""
    if not files:
        return []
    secrets = [v.value for v in (*options.ext_vars, *options.tlas)]
    with tempfile.TemporaryDirectory(prefix="tether-jsonnet-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "repo"
        root.mkdir()
        materialise(repo_files, root)
        request_file = tmp / "request.json"
        request_file.write_text(json.dumps(_request(root, files, options)))
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "PYTHONSAFEPATH": "1"}
        if os.environ.get("PYTHONPATH"):
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        done = sandbox.run_tool(
            [sys.executable, "-m", "tether.adapters.render.jsonnet_worker", str(request_file)],
            name="jsonnet",
            where=files[0],
            env=env,
            cwd=root,
            timeout=TIMEOUT_SECONDS,
        )
        if done.returncode != 0:
            detail = trim_tool_output(done.stderr, root, secrets)
            raise RenderError(f"jsonnet evaluation failed: {detail}")
    limits.check_rendered_size(len(done.stdout.encode()), files[0])
    try:
        results = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RenderError("jsonnet evaluation printed no JSON", files[0]) from None
    located: list[tuple[str, Obj]] = []
    for result in results:
        file = str(result["file"])
        documents = [(n, 1, v) for n, v in enumerate(_flatten(result["value"]), start=1)]
        located.extend((file, obj) for obj in objects_from_documents(documents, file))
    return located


def jsonnet_files(selected: list[str], app_path: str) -> list[str]:
    """Repository paths of the ``.jsonnet`` files among ``selected`` (app-relative)."""
    return [posixpath.join(app_path, rel) if app_path else rel for rel in selected]
