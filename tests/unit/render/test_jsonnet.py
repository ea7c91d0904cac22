"""Jsonnet directories (Argo CD's convention) and empty renders that must not look like success."""

from __future__ import annotations

import pytest

from tether.adapters.render import RenderError, render

MAIN = b"""
local lib = import 'common.libsonnet';
function(replicas=1) [
  lib.configmap('settings', { env: std.extVar('env') }),
  {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web' },
    spec: { replicas: replicas, selector: { matchLabels: { app: 'web' } },
            template: { metadata: { labels: { app: 'web' } },
                        spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
  },
]
"""
LIB = b"""
{ configmap(name, data):: { apiVersion: 'v1', kind: 'ConfigMap',
                            metadata: { name: name }, data: data } }
"""


def test_jsonnet_with_lib_ext_var_and_tla_renders_every_object() -> None:
    files = {"apps/web/main.jsonnet": MAIN, "lib/common.libsonnet": LIB}
    source = {
        "path": "apps/web",
        "directory": {
            "jsonnet": {
                "libs": ["lib"],
                "extVars": [{"name": "env", "value": "prod"}],
                "tlas": [{"name": "replicas", "value": "3", "code": True}],
            }
        },
    }
    objects = render(files, source)
    assert [o["kind"] for o in objects] == ["ConfigMap", "Deployment"]
    assert objects[0]["data"] == {"env": "prod"}
    assert objects[1]["spec"]["replicas"] == 3


def test_jsonnet_files_render_without_options_beside_yaml() -> None:
    files = {
        "app/cm.jsonnet": b"{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'a'}}",
        "app/b.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
    }
    assert sorted(o["metadata"]["name"] for o in render(files, {"path": "app"})) == ["a", "b"]


def test_jsonnet_error_names_the_file_and_line() -> None:
    files = {"app/bad.jsonnet": b"{ a: error 'broken on purpose' }"}
    with pytest.raises(RenderError) as err:
        render(files, {"path": "app"})
    assert "broken on purpose" in str(err.value)
    assert "app/bad.jsonnet" in str(err.value)


def test_jsonnet_import_outside_the_repository_is_refused() -> None:
    files = {"app/x.jsonnet": b"import '../../../../etc/passwd'"}
    with pytest.raises(RenderError, match="not found in the repository"):
        render(files, {"path": "app"})


def test_jsonnet_that_never_ends_is_stopped() -> None:
    files = {"app/x.jsonnet": b"local f(n) = f(n + 1); f(0)"}
    with pytest.raises(RenderError):
        render(files, {"path": "app"})


def test_empty_render_of_unreadable_files_names_them() -> None:
    files = {
        "app/only.libsonnet": b"{}",
        "app/schema.cue": b"x: 1",
        "app/README.md": b"docs",
    }
    with pytest.raises(RenderError) as err:
        render(files, {"path": "app"})
    message = str(err.value)
    assert "rendered no objects" in message
    assert "app/only.libsonnet" in message and "app/schema.cue" in message
    assert "README" not in message


def test_empty_render_with_manifests_only_in_subdirectories_suggests_recurse() -> None:
    files = {"app/nested/cm.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"}
    with pytest.raises(RenderError, match=r"directory\.recurse"):
        render(files, {"path": "app"})


def test_empty_directory_of_documentation_is_still_an_empty_render() -> None:
    assert render({"app/README.md": b"nothing yet"}, {"path": "app"}) == []
