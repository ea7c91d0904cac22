"""Every file a kustomization names must be a file of this repository.

kustomize loads any file-reference field through a loader that also speaks
HTTP and Git: ``configMapGenerator`` files, ``patches[].path``, ``crds``,
generator configs and more, not only ``resources``. Its field names are
matched case-insensitively (they go through Go's JSON decoding), and so are
URL schemes. So this check walks every kustomization the app reaches (nested
bases, components, generator/transformer directories), folds keys to lower
case, and requires each reference to be a relative path to a file or
directory present in the repository at this commit. A remote-looking entry,
an absolute path, a path leaving the repository, or a path that does not
exist (which kustomize would try as a remote) is refused with an error naming
the kustomization file, the field and the entry. ``helmCharts`` is refused
outright: it pulls charts from the network.

This is the first wall; the second is that tools run without network
(``sandbox``).
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from tether.adapters.render.errors import RenderError
from tether.adapters.render.files import RepoFiles
from tether.adapters.render.manifests import parse_documents
from tether.adapters.render.source import KUSTOMIZATION_FILES
from tether.engine.credentials import strip_userinfo

_REMOTE = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://"  # any scheme: http, HTTPS, ssh, git, file, s3 ...
    r"|[a-z][a-z0-9+.-]*::"  # go-getter forced getters: git::https://...
    r"|[^/\s@]+@[^/\s:]+:"  # scp-like: git@github.com:org/repo
    r"|(?:www\.)?(?:github\.com|gitlab\.com|bitbucket\.org)(?:/|$))",
    re.IGNORECASE,
)
_HELM_FIELDS = {
    "helmcharts": "helmCharts",
    "helmchartinflationgenerator": "helmChartInflationGenerator",
    "helmglobals": "helmGlobals",
}
_DIR_FIELDS = {"resources": "resources", "bases": "bases", "components": "components"}
_FILE_FIELDS = {"crds": "crds", "configurations": "configurations"}
_PLUGIN_FIELDS = {
    "generators": "generators",
    "transformers": "transformers",
    "validators": "validators",
}
_GENERATOR_FIELDS = {
    "configmapgenerator": "configMapGenerator",
    "secretgenerator": "secretGenerator",
}
_PATH_LIST_FIELDS = {
    "patches": "patches",
    "patchesjson6902": "patchesJson6902",
    "replacements": "replacements",
}


def fold(value: Any) -> Any:
    """``value`` with every mapping key lower-cased (kustomize ignores their case)."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = key.lower() if isinstance(key, str) else key
            if name in out and isinstance(out[name], list) and isinstance(item, list):
                out[name] = out[name] + fold(item)  # both spellings are checked
            else:
                out[name] = fold(item)
        return out
    if isinstance(value, list):
        return [fold(item) for item in value]
    return value


def is_remote(entry: str) -> bool:
    return bool(_REMOTE.match(entry.strip()))


def kustomization_in(files: RepoFiles, directory: str) -> str | None:
    for name in KUSTOMIZATION_FILES:
        candidate = posixpath.join(directory, name) if directory else name
        if candidate in files:
            return candidate
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(n, item) for n, item in enumerate(value) if isinstance(item, dict)]


class _Checker:
    def __init__(self, files: RepoFiles, allow_remote: bool) -> None:
        self.files = files
        self.allow_remote = allow_remote
        self.directories = {
            name[:pos] for name in files for pos, ch in enumerate(name) if ch == "/"
        }
        self.seen: set[tuple[str, bool]] = set()

    # -- one reference ------------------------------------------------------

    def target(self, entry: str, base: str, field: str, file: str) -> str | None:
        """The repository path ``entry`` names (None for an allowed remote); refuses the rest."""
        raw = entry.strip()
        shown = strip_userinfo(raw)
        if is_remote(raw):
            if self.allow_remote:
                return None
            raise RenderError(
                f"{field} entry '{shown}' is a remote reference; remote references are "
                "not allowed (every file a kustomization names must be in the repository)",
                file=file,
            )
        if raw.startswith("/") or raw.startswith("\\") or re.match(r"^[a-zA-Z]:[\\/]", raw):
            raise RenderError(f"{field} entry '{shown}' is an absolute path", file=file)
        joined = posixpath.normpath(posixpath.join(base, raw.replace("\\", "/")))
        if joined == ".." or joined.startswith("../"):
            raise RenderError(f"{field} entry '{shown}' escapes the repository", file=file)
        path = "" if joined == "." else joined
        if path and path not in self.files and path not in self.directories:
            raise RenderError(
                f"{field} entry '{shown}' is not a file or directory of the repository "
                "(kustomize would try it as a remote reference)",
                file=file,
            )
        return path

    def is_dir(self, path: str) -> bool:
        return not path or path in self.directories

    # -- documents ----------------------------------------------------------

    def plugin_config(self, doc: Any, base: str, field: str, file: str) -> None:
        """Builtin generator/transformer configs name files too (files, envs, path, paths)."""
        if not isinstance(doc, dict):
            return
        if str(doc.get("kind", "")).lower() == "helmchartinflationgenerator":
            raise RenderError(
                f"{field}: HelmChartInflationGenerator is not allowed (it pulls charts)",
                file=file,
            )
        for key in ("files", "envs", "env", "path", "paths"):
            for entry in _strings(doc.get(key)):
                value = entry.split("=", 1)[1] if key == "files" and "=" in entry else entry
                self.target(value, base, f"{field} {key}", file)
        for number, item in _items(doc.get("replacements")):
            for entry in _strings(item.get("path")):
                self.target(entry, base, f"{field} replacements[{number}].path", file)

    def config_file(self, path: str, base: str, field: str, file: str) -> None:
        for _, _, doc in parse_documents(self.files[path], path):
            self.plugin_config(fold(doc), base, field, path)

    def kustomization(self, directory: str, configs: bool = False) -> None:
        if (directory, configs) in self.seen:
            return
        self.seen.add((directory, configs))
        file = kustomization_in(self.files, directory)
        if file is None:
            return
        docs = parse_documents(self.files[file], file)
        raw = docs[0][2] if docs else {}
        if not isinstance(raw, dict):
            raise RenderError("kustomization is not a mapping", file=file)
        self.check(fold(raw), directory, file, configs)

    def check(self, doc: dict[str, Any], base: str, file: str, configs: bool) -> None:
        for key, name in _HELM_FIELDS.items():
            if doc.get(key):
                raise RenderError(
                    f"{name} is not allowed in a kustomization (it pulls charts from the "
                    "network); render the chart with a helm source instead",
                    file=file,
                )
        for key, name in _DIR_FIELDS.items():
            for entry in _strings(doc.get(key)):
                path = self.target(entry, base, name, file)
                if path is None:
                    continue
                if self.is_dir(path):
                    self.kustomization(path, configs)
                elif configs:
                    self.config_file(path, base, name, file)
        for key, name in _FILE_FIELDS.items():
            for entry in _strings(doc.get(key)):
                self.target(entry, base, name, file)
        for key, name in _PLUGIN_FIELDS.items():
            for entry in _strings(doc.get(key)):
                if "\n" in entry.strip():
                    for _, _, inline in parse_documents(entry, file):
                        self.plugin_config(fold(inline), base, name, file)
                    continue
                path = self.target(entry, base, name, file)
                if path is None:
                    continue
                if self.is_dir(path):
                    self.kustomization(path, configs=True)
                else:
                    self.config_file(path, base, name, file)
        for key, name in _GENERATOR_FIELDS.items():
            for number, item in _items(doc.get(key)):
                self.plugin_config(item, base, f"{name}[{number}]", file)
        for key, name in _PATH_LIST_FIELDS.items():
            for number, item in _items(doc.get(key)):
                for entry in _strings(item.get("path")):
                    self.target(entry, base, f"{name}[{number}].path", file)
        for entry in _strings(doc.get("patchesstrategicmerge")):
            stripped = entry.strip()
            if "\n" in stripped or stripped.startswith(("{", "[")):
                continue  # an inline patch, not a reference
            self.target(entry, base, "patchesStrategicMerge", file)
        openapi = doc.get("openapi")
        if isinstance(openapi, dict):
            for entry in _strings(openapi.get("path")):
                self.target(entry, base, "openapi.path", file)


def check_references(files: RepoFiles, app_path: str, *, allow_remote: bool = False) -> None:
    """Refuse any reference that is not a file of the repository, in every kustomization."""
    _Checker(files, allow_remote).kustomization(app_path)
