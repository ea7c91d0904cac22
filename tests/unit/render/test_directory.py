"""Plain directories of manifests: formats, List flattening, recurse, include/exclude."""

from __future__ import annotations

import json
from pathlib import Path

from tether.adapters.render import RenderCache, render
from tether.adapters.render.directory import expand_braces

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "finance-app"


def cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def names(objects: list[dict]) -> list[str]:
    return [o["metadata"]["name"] for o in objects]


def test_finance_app_plain_example() -> None:
    objects = render(EXAMPLES, {"path": "plain"})
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert kinds == {
        ("Deployment", "finance-api"),
        ("Service", "finance-api"),
        ("ConfigMap", "finance-api-config"),
    }
    deploy = next(o for o in objects if o["kind"] == "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert deploy["spec"]["replicas"] == 1
    assert pod["imagePullSecrets"] == [{"name": "ecr-pull"}]
    assert pod["containers"][0]["image"].endswith("/finance-api:1.4")
    assert "namespace" not in deploy["metadata"]  # no defaulting here


def test_multi_document_yaml_json_and_document_order() -> None:
    files = {
        "app/b.yaml": (cm("b1") + "---\n" + cm("b2") + "---\n---\n").encode(),
        "app/a.json": b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}',
        "app/README.md": b"# not a manifest",
        "app/script.sh": b"echo hi",
        "other/c.yaml": cm("c").encode(),
    }
    assert names(render(files, {"path": "app"})) == ["a", "b1", "b2"]


def test_list_kinds_are_flattened() -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [json.loads('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}')],
    }
    typed = "apiVersion: v1\nkind: ConfigMapList\nitems:\n- " + cm("y").replace("\n", "\n  ")
    files = {"l.json": json.dumps(doc).encode(), "m.yaml": typed.encode()}
    assert names(render(files, {"path": ""})) == ["x", "y"]


def test_recurse_include_exclude() -> None:
    files = {
        "app/top.yaml": cm("top").encode(),
        "app/sub/deep.yaml": cm("deep").encode(),
        "app/sub/skip.yml": cm("skip").encode(),
        "app/config.json": b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"}}',
    }
    assert names(render(files, {"path": "app"})) == ["cfg", "top"]
    recurse = {"path": "app", "directory": {"recurse": True}}
    assert names(render(files, recurse)) == ["cfg", "deep", "skip", "top"]
    only = {"path": "app", "directory": {"recurse": True, "include": "{top.yaml,sub/deep.yaml}"}}
    assert names(render(files, only)) == ["deep", "top"]
    excluded = {"path": "app", "directory": {"recurse": True, "exclude": "{*.json,skip.yml}"}}
    assert names(render(files, excluded)) == ["deep", "top"]


def test_brace_expansion() -> None:
    assert expand_braces("{a,b}/{c,d}.yaml") == ["a/c.yaml", "a/d.yaml", "b/c.yaml", "b/d.yaml"]
    assert expand_braces("plain.yaml") == ["plain.yaml"]


def test_timestamps_and_numbers_stay_as_written() -> None:
    text = cm("t") + "data:\n  date: 2024-01-01\n  n: '1'\n"
    [obj] = render({"t.yaml": text.encode()}, {"path": ""})
    assert obj["data"] == {"date": "2024-01-01", "n": "1"}


def test_render_cache_reuses_results_and_copies() -> None:
    cache = RenderCache(max_entries=2)
    calls = []

    def loader() -> dict[str, bytes]:
        calls.append(1)
        return {"a.yaml": cm("a").encode()}

    first = cache.render("https://x/repo", "sha1", loader, {"path": ""})
    first[0]["metadata"]["namespace"] = "mutated"
    second = cache.render("https://x/repo", "sha1", loader, {"path": ""})
    assert len(calls) == 1 and "namespace" not in second[0]["metadata"]
    cache.render("https://x/repo", "sha2", loader, {"path": ""})
    cache.render("https://x/repo", "sha1", loader, {"path": "", "directory": {"recurse": True}})
    assert len(cache) == 2 and len(calls) == 3
    cache.render("https://x/repo", "sha1", loader, {"path": ""})  # evicted: rendered again
    assert len(calls) == 4
