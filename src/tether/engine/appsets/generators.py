"""Generators: from an ApplicationSet's ``generators`` to parameter sets, over plain data.

Each parameter set becomes one Application once the template is rendered
with it. Parameters are nested maps with ``goTemplate: true``
(``{{.path.basename}}``) and flat dotted keys otherwise (``{{path.basename}}``),
with Argo CD's names.

Git generators need a repository's files at a revision; they read them from
``trees`` and raise ``NeedTree`` for one they lack, so the controller fetches
it and calls again (a matrix child may name a repository only its sibling's
parameters reveal).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from tether.engine import application
from tether.engine.appsets import template
from tether.engine.appsets.spec import (
    ClusterGenerator,
    Generator,
    GitGenerator,
    LabelSelector,
    ListGenerator,
    Matrix,
    Merge,
)

Params = dict[str, Any]
Trees = Mapping[tuple[str, str], Mapping[str, bytes]]
MAX_PARAM_SETS = 1000
MAX_FILE_BYTES = 1 << 20


class GeneratorError(ValueError):
    """A generator that cannot produce parameters; the message names the field."""


class NeedTree(Exception):
    """The files of ``repo_url`` at ``revision`` are needed to go on."""

    def __init__(self, repo_url: str, revision: str) -> None:
        super().__init__(f"{repo_url}@{revision}")
        self.repo_url = repo_url
        self.revision = revision


@dataclass(frozen=True)
class Cluster:
    name: str
    server: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


IN_CLUSTER = Cluster("in-cluster", application.IN_CLUSTER)


def generate(
    generators: list[Generator],
    *,
    go: bool,
    trees: Trees,
    clusters: Iterable[Cluster] = (IN_CLUSTER,),
    where: str = "spec.generators",
) -> list[Params]:
    """Every parameter set of every generator, in order (generators are concatenated)."""
    out: list[Params] = []
    for i, gen in enumerate(generators):
        out += one(gen, go=go, trees=trees, clusters=tuple(clusters), where=f"{where}[{i}]")
        if len(out) > MAX_PARAM_SETS:
            raise GeneratorError(f"{where}: more than {MAX_PARAM_SETS} parameter sets")
    return out


def one(
    gen: Generator, *, go: bool, trees: Trees, clusters: tuple[Cluster, ...], where: str
) -> list[Params]:
    if gen.list_ is not None:
        return list_params(gen.list_, go=go, where=f"{where}.list")
    if gen.git is not None:
        return git_params(gen.git, go=go, trees=trees, where=f"{where}.git")
    if gen.clusters is not None:
        return cluster_params(gen.clusters, clusters, go=go)
    if gen.matrix is not None:
        return matrix(gen.matrix, go=go, trees=trees, clusters=clusters, where=f"{where}.matrix")
    assert gen.merge is not None
    return merge(gen.merge, go=go, trees=trees, clusters=clusters, where=f"{where}.merge")


# -- list ---------------------------------------------------------------------


def list_params(gen: ListGenerator, *, go: bool, where: str = "list") -> list[Params]:
    return [dict(e) if go else flatten(e) for e in gen.elements]


# -- git ----------------------------------------------------------------------


def git_params(gen: GitGenerator, *, go: bool, trees: Trees, where: str = "git") -> list[Params]:
    tree = trees.get((gen.repo_url, gen.revision))
    if tree is None:
        raise NeedTree(gen.repo_url, gen.revision)
    if gen.directories:
        found = git_directories(gen, tree.keys(), go=go)
    else:
        found = git_files(gen, tree, go=go, where=where)
    return [_with_values(p, gen.values, go=go, where=f"{where}.values") for p in found]


def git_directories(gen: GitGenerator, paths: Iterable[str], *, go: bool) -> list[Params]:
    """One parameter set per directory matching an entry and no ``exclude: true`` entry."""
    dirs = directories_of(paths)
    include = [glob_regex(d.path.strip("/")) for d in gen.directories if not d.exclude]
    exclude = [glob_regex(d.path.strip("/")) for d in gen.directories if d.exclude]
    chosen = [
        d
        for d in sorted(dirs)
        if any(r.fullmatch(d) for r in include) and not any(r.fullmatch(d) for r in exclude)
    ]
    return [_path_params(d, None, gen.path_param_prefix, go=go) for d in chosen]


def git_files(
    gen: GitGenerator, files: Mapping[str, bytes], *, go: bool, where: str = "git"
) -> list[Params]:
    """One parameter set per object in each matching JSON/YAML file (a list gives several)."""
    patterns = [glob_regex(f.path.strip("/")) for f in gen.files]
    out: list[Params] = []
    for name in sorted(files):
        if not any(p.fullmatch(name) for p in patterns):
            continue
        data = files[name]
        if len(data) > MAX_FILE_BYTES:
            raise GeneratorError(f"{where}.files: {name} is larger than {MAX_FILE_BYTES} bytes")
        for content in _documents(name, data, where):
            base = _path_params(
                posixpath.dirname(name), posixpath.basename(name), gen.path_param_prefix, go=go
            )
            out.append({**content, **base} if go else {**flatten(content), **base})
    return out


def _documents(name: str, data: bytes, where: str) -> list[dict[str, Any]]:
    try:
        if name.endswith(".json"):
            docs = [json.loads(data)]
        else:
            docs = [d for d in yaml.safe_load_all(data) if d is not None]
    except (ValueError, yaml.YAMLError) as exc:
        raise GeneratorError(f"{where}.files: {name} is not valid JSON/YAML: {exc}") from None
    out: list[dict[str, Any]] = []
    for doc in docs:
        items = doc if isinstance(doc, list) else [doc]
        for item in items:
            if not isinstance(item, dict):
                raise GeneratorError(
                    f"{where}.files: {name} holds a {type(item).__name__}, not a map"
                )
            out.append(item)
    return out


def _path_params(directory: str, filename: str | None, prefix: str, *, go: bool) -> Params:
    directory = directory.strip("/")
    basename = posixpath.basename(directory)
    segments = directory.split("/") if directory else []
    info: dict[str, Any] = {
        "path": directory,
        "basename": basename,
        "basenameNormalized": template.normalize(basename),
    }
    if filename is not None:
        info["filename"] = filename
        info["filenameNormalized"] = template.normalize(filename)
    if go:
        info["segments"] = segments
        return {prefix: {"path": info}} if prefix else {"path": info}
    key = f"{prefix}.path" if prefix else "path"
    flat: Params = {key: directory}
    flat.update({f"{key}.{k}": v for k, v in info.items() if k != "path"})
    flat.update({f"{key}[{i}]": s for i, s in enumerate(segments)})
    return flat


def directories_of(paths: Iterable[str]) -> set[str]:
    """Every directory that holds a file (at any depth) among ``paths``."""
    dirs: set[str] = set()
    for path in paths:
        parent = posixpath.dirname(path)
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    return dirs


def glob_regex(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` stay within one path segment, ``**`` crosses them, ``[..]`` as in Go."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


# -- clusters -----------------------------------------------------------------


def cluster_params(gen: ClusterGenerator, clusters: Iterable[Cluster], *, go: bool) -> list[Params]:
    """One parameter set per registered cluster the selector matches (today: in-cluster)."""
    out = []
    for cluster in clusters:
        if not selects(gen.selector, dict(cluster.labels)):
            continue
        params: Params = {
            "name": cluster.name,
            "nameNormalized": template.normalize(cluster.name),
            "server": cluster.server,
            "metadata": {"labels": dict(cluster.labels), "annotations": dict(cluster.annotations)},
        }
        if not go:
            params = flatten(params)
        out.append(_with_values(params, gen.values, go=go, where="clusters.values"))
    return out


def selects(selector: LabelSelector, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    return all(e.matches(labels) for e in selector.match_expressions)


def _with_values(params: Params, values: Mapping[str, str], *, go: bool, where: str) -> Params:
    """Argo CD's generator ``values``: rendered with the generator's own parameters."""
    if not values:
        return params
    rendered = {
        k: template.render_tree(v, params, go=go, where=f"{where}.{k}") for k, v in values.items()
    }
    if go:
        return {**params, "values": rendered}
    return {**params, **{f"values.{k}": v for k, v in rendered.items()}}


# -- matrix and merge -----------------------------------------------------------


def matrix(
    gen: Matrix, *, go: bool, trees: Trees, clusters: tuple[Cluster, ...], where: str
) -> list[Params]:
    """Every combination of the two children; the second child's strings are rendered
    with each of the first child's parameter sets (so it may name a path from it)."""
    first = one(
        gen.generators[0], go=go, trees=trees, clusters=clusters, where=f"{where}.generators[0]"
    )
    raw = gen.generators[1].model_dump(by_alias=True, exclude_defaults=True)
    out: list[Params] = []
    for params in first:
        second_where = f"{where}.generators[1]"
        try:
            rendered = template.render_tree(raw, params, go=go, where=second_where)
        except template.TemplateError as exc:
            raise GeneratorError(str(exc)) from None
        second = Generator.model_validate(rendered)
        for other in one(second, go=go, trees=trees, clusters=clusters, where=second_where):
            out.append(combine(params, other, where=where))
            if len(out) > MAX_PARAM_SETS:
                raise GeneratorError(f"{where}: more than {MAX_PARAM_SETS} parameter sets")
    return out


def combine(left: Params, right: Params, *, where: str = "matrix") -> Params:
    """Both parameter sets in one; the same key with two different values is an error."""
    out = dict(left)
    for key, value in right.items():
        if key not in out or out[key] == value:
            out[key] = value
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = combine(out[key], value, where=f"{where}: {key}")
        else:
            raise GeneratorError(
                f"{where}: both generators set parameter {key!r} ({out[key]!r} and {value!r})"
            )
    return out


def merge(
    gen: Merge, *, go: bool, trees: Trees, clusters: tuple[Cluster, ...], where: str
) -> list[Params]:
    """The first child's parameter sets, each overridden by the sets of later children
    that have the same values at ``mergeKeys``; sets only a later child has are dropped."""
    results = [
        one(g, go=go, trees=trees, clusters=clusters, where=f"{where}.generators[{i}]")
        for i, g in enumerate(gen.generators)
    ]
    base = results[0]
    for i, later in enumerate(results[1:], start=1):
        by_key: dict[tuple[str, ...], Params] = {}
        for params in later:
            key = _merge_key(params, gen.merge_keys, go=go, where=f"{where}.generators[{i}]")
            if key in by_key:
                raise GeneratorError(
                    f"{where}.generators[{i}]: two parameter sets share merge key values {key}"
                )
            by_key[key] = params
        merged = []
        for params in base:
            key = _merge_key(params, gen.merge_keys, go=go, where=f"{where}.generators[0]")
            merged.append(_override(params, by_key[key]) if key in by_key else params)
        base = merged
    return base


def _merge_key(params: Params, keys: list[str], *, go: bool, where: str) -> tuple[str, ...]:
    out = []
    for key in keys:
        try:
            value = template.lookup(params, key) if go else params[key]
        except (template.TemplateError, KeyError):
            raise GeneratorError(
                f"{where}: merge key {key!r} is missing from a parameter set"
            ) from None
        out.append(json.dumps(value, sort_keys=True) if not isinstance(value, str) else value)
    return tuple(out)


def _override(base: Params, top: Params) -> Params:
    out = dict(base)
    for key, value in top.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = _override(out[key], value)
        else:
            out[key] = value
    return out


def flatten(value: Mapping[str, Any], prefix: str = "") -> Params:
    """Nested maps (and lists) as dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: Params = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            out.update(flatten(item, f"{name}."))
        elif isinstance(item, list):
            out.update(flatten({str(i): v for i, v in enumerate(item)}, f"{name}."))
        else:
            out[name] = item
    return out
