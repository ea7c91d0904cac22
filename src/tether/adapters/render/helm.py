"""Helm charts through ``helm template``, on a private copy of the repository.

Precedence follows Argo CD: value files in the order given, then inline
values, then parameters (``--set``/``--set-string``). Value files are paths in
the repository relative to the chart; a missing one is an error naming it, as
silently rendering with defaults could deploy the wrong configuration.

helm runs with private HELM_* homes, no kubeconfig and no network
(``sandbox``), so it never talks to a cluster or a chart repository, and
parameter values are scrubbed from its error output because they often carry
secrets. Every flag is passed as ``--flag=value`` and the release name and
chart come after ``--``, so no value from the Application is read as a flag
(a ``releaseName`` of ``--output-dir=/etc`` once wrote files on the host); the
release name must also be a DNS-1123 name of at most 53 characters, as helm
itself requires.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tempfile
from pathlib import Path

from tether.adapters.render import limits, sandbox
from tether.adapters.render.errors import RenderError
from tether.adapters.render.files import RepoFiles, clean_path, materialise, trim_tool_output
from tether.adapters.render.manifests import (
    check_duplicates,
    objects_from_documents,
    parse_documents,
)
from tether.adapters.render.source import HelmOptions
from tether.engine.objects import Obj

TIMEOUT_SECONDS = 120
_PROJECT_HELM = Path(__file__).resolve().parents[4] / ".cache" / "tools" / "helm"
_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)
_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
MAX_RELEASE_NAME = 53
_RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_release_name(name: str, field: str = "source.helm.releaseName") -> str:
    """``name`` when helm accepts it as a release name; RenderError naming the rule otherwise."""
    if len(name) > MAX_RELEASE_NAME or not _RELEASE_NAME.match(name):
        raise RenderError(
            f"{field} '{name[:80]}' is not a valid release name (lower-case letters, digits, "
            f"'-' and '.', starting and ending with a letter or digit, at most "
            f"{MAX_RELEASE_NAME} characters)"
        )
    return name


def find_helm(helm_path: str | None = None) -> str:
    """``helm_path``, then $TETHER_HELM, then ``<project>/.cache/tools/helm``, then PATH."""
    candidates = [
        helm_path,
        os.environ.get("TETHER_HELM"),
        str(_PROJECT_HELM),
        shutil.which("helm"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RenderError("helm not found: set TETHER_HELM, pass helm_path, or run make tools")


def _value_file_args(files: RepoFiles, chart_path: str, options: HelmOptions) -> list[str]:
    args: list[str] = []
    missing: list[str] = []
    for value_file in options.value_files:
        if re.match(r"^[a-z][a-z0-9+.-]*:", value_file, re.IGNORECASE):
            raise RenderError(f"remote value file '{value_file}' is not allowed")
        repo_path = clean_path(posixpath.join(chart_path, value_file), f"value file '{value_file}'")
        if repo_path not in files:
            missing.append(value_file)
            continue
        args.append(f"--values={repo_path}")
    if missing and not options.ignore_missing_value_files:
        where = chart_path or "the repository root"
        names = ", ".join(f"'{name}'" for name in missing)
        raise RenderError(f"value file {names} not found (relative to chart {where})")
    return args


def split_helm_output(stdout: str) -> list[tuple[str, str]]:
    """(template path, text) for each document ``helm template`` printed."""
    out: list[tuple[str, str]] = []
    for chunk in _SEPARATOR.split(stdout):
        if not chunk.strip():
            continue
        source = _SOURCE.search(chunk)
        out.append((source.group(1).strip() if source else "helm template output", chunk))
    return out


def render_helm(
    files: RepoFiles,
    chart_path: str,
    options: HelmOptions,
    *,
    release_name: str,
    namespace: str,
    helm_path: str | None = None,
) -> list[Obj]:
    chart_file = posixpath.join(chart_path, "Chart.yaml") if chart_path else "Chart.yaml"
    if chart_file not in files:
        raise RenderError(f"no Chart.yaml in {chart_path or 'the repository root'}")
    if options.release_name:
        release = check_release_name(options.release_name)
    else:
        release = check_release_name(release_name, "the release name (the application name)")
    value_args = _value_file_args(files, chart_path, options)
    helm = find_helm(helm_path)
    secrets = [p.value for p in options.parameters]
    with tempfile.TemporaryDirectory(prefix="tether-helm-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "repo"
        root.mkdir()
        materialise(files, root)
        command = [helm, "template", f"--namespace={namespace or 'default'}"]
        command += value_args
        if options.values.strip():
            inline = tmp / "inline-values.yaml"
            inline.write_text(options.values)
            command.append(f"--values={inline}")
        for param in options.parameters:
            flag = "--set-string" if param.force_string else "--set"
            command.append(f"{flag}={param.name}={param.value}")
        if not options.skip_crds:
            command.append("--include-crds")
        if options.kube_version:
            command.append(f"--kube-version={options.kube_version}")
        for api_version in options.api_versions:
            command.append(f"--api-versions={api_version}")
        command += ["--", release, str(root / chart_path)]
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp),
            "KUBECONFIG": os.devnull,
            "HELM_CACHE_HOME": str(tmp / "cache"),
            "HELM_CONFIG_HOME": str(tmp / "config"),
            "HELM_DATA_HOME": str(tmp / "data"),
        }
        done = sandbox.run_tool(
            command,
            name="helm template",
            where=chart_file,
            env=env,
            cwd=root,
            timeout=TIMEOUT_SECONDS,
        )
        if done.returncode != 0:
            detail = trim_tool_output(done.stderr, root, secrets)
            raise RenderError(f"helm template failed: {detail}", file=chart_path or None)
    located: list[tuple[str, Obj]] = []
    limits.check_rendered_size(len(done.stdout.encode()), chart_file)
    for template, text in split_helm_output(done.stdout):
        for obj in objects_from_documents(parse_documents(text, template), template):
            located.append((template, obj))
        limits.check_object_count(len(located), chart_file)
    check_duplicates(located)
    return [obj for _, obj in located]
