"""Generators over plain data: list, git directories and files, clusters, matrix, merge."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tether.engine.appsets import generators as g
from tether.engine.appsets.spec import Generator

REPO = "https://git.example.com/platform.git"
TREE = {
    "apps/alpha/deploy.yaml": b"kind: ConfigMap",
    "apps/beta/deploy.yaml": b"kind: ConfigMap",
    "apps/beta/nested/x.yaml": b"kind: ConfigMap",
    "apps/skip-me/deploy.yaml": b"kind: ConfigMap",
    "README.md": b"hi",
    "clusters/dev/config.json": json.dumps({"cluster": {"name": "dev", "replicas": 1}}).encode(),
    "clusters/prod/config.json": json.dumps({"cluster": {"name": "prod", "replicas": 3}}).encode(),
    "teams/teams.yaml": b"- team: red\n  ns: red-ns\n- team: blue\n  ns: blue-ns\n",
}
TREES = {(REPO, "HEAD"): TREE}


def gen(raw: dict[str, Any]) -> Generator:
    return Generator.model_validate(raw)


def run(raw: dict[str, Any], *, go: bool = True, trees: Any = TREES) -> list[dict[str, Any]]:
    return g.generate([gen(raw)], go=go, trees=trees)


def test_list_elements_are_parameter_sets() -> None:
    out = run({"list": {"elements": [{"name": "a", "env": {"tier": "1"}}, {"name": "b"}]}})
    assert out == [{"name": "a", "env": {"tier": "1"}}, {"name": "b"}]
    flat = run({"list": {"elements": [{"name": "a", "env": {"tier": "1"}}]}}, go=False)
    assert flat == [{"name": "a", "env.tier": "1"}]


def test_git_directories_match_one_level_and_honour_excludes() -> None:
    raw = {
        "git": {
            "repoURL": REPO,
            "directories": [{"path": "apps/*"}, {"path": "apps/skip-me", "exclude": True}],
        }
    }
    out = run(raw)
    assert [p["path"]["path"] for p in out] == ["apps/alpha", "apps/beta"]
    assert out[1]["path"] == {
        "path": "apps/beta",
        "basename": "beta",
        "basenameNormalized": "beta",
        "segments": ["apps", "beta"],
    }
    flat = run(raw, go=False)
    assert flat[0] == {
        "path": "apps/alpha",
        "path.basename": "alpha",
        "path.basenameNormalized": "alpha",
        "path[0]": "apps",
        "path[1]": "alpha",
    }


def test_git_files_yield_the_file_content_and_path_parameters() -> None:
    out = run({"git": {"repoURL": REPO, "files": [{"path": "clusters/**/config.json"}]}})
    assert [p["cluster"]["name"] for p in out] == ["dev", "prod"]
    assert out[0]["path"]["path"] == "clusters/dev"
    assert out[0]["path"]["filename"] == "config.json"
    flat = run({"git": {"repoURL": REPO, "files": [{"path": "clusters/*/config.json"}]}}, go=False)
    assert flat[1]["cluster.replicas"] == 3
    assert flat[1]["path.basename"] == "prod"


def test_a_yaml_file_holding_a_list_gives_one_set_per_item() -> None:
    out = run({"git": {"repoURL": REPO, "files": [{"path": "teams/teams.yaml"}]}})
    assert [p["team"] for p in out] == ["red", "blue"]


def test_a_broken_file_is_an_error_naming_it() -> None:
    trees = {(REPO, "HEAD"): {"c/x.json": b"{nope"}}
    with pytest.raises(g.GeneratorError, match=r"c/x.json is not valid JSON/YAML"):
        run({"git": {"repoURL": REPO, "files": [{"path": "c/*.json"}]}}, trees=trees)


def test_a_missing_repository_tree_is_asked_for() -> None:
    with pytest.raises(g.NeedTree) as need:
        run({"git": {"repoURL": REPO, "revision": "main", "directories": [{"path": "*"}]}})
    assert (need.value.repo_url, need.value.revision) == (REPO, "main")


def test_cluster_generator_yields_the_in_cluster_cluster_unless_the_selector_excludes_it() -> None:
    out = run({"clusters": {"values": {"region": "here-{{.name}}"}}})
    assert out == [
        {
            "name": "in-cluster",
            "nameNormalized": "in-cluster",
            "server": "https://kubernetes.default.svc",
            "metadata": {"labels": {}, "annotations": {}},
            "values": {"region": "here-in-cluster"},
        }
    ]
    assert run({"clusters": {"selector": {"matchLabels": {"env": "prod"}}}}) == []


def test_matrix_combines_every_pair_and_renders_the_second_child_with_the_first() -> None:
    raw = {
        "matrix": {
            "generators": [
                {"list": {"elements": [{"env": "dev"}, {"env": "prod"}]}},
                {"git": {"repoURL": REPO, "files": [{"path": "clusters/{{.env}}/config.json"}]}},
            ]
        }
    }
    out = run(raw)
    assert [(p["env"], p["cluster"]["replicas"]) for p in out] == [("dev", 1), ("prod", 3)]


def test_matrix_refuses_two_values_for_one_parameter() -> None:
    raw = {
        "matrix": {
            "generators": [
                {"list": {"elements": [{"a": "1"}]}},
                {"list": {"elements": [{"a": "2"}]}},
            ]
        }
    }
    with pytest.raises(g.GeneratorError, match="both generators set parameter 'a'"):
        run(raw)


def test_merge_overrides_base_sets_by_merge_key_and_drops_unmatched_ones() -> None:
    raw = {
        "merge": {
            "mergeKeys": ["name"],
            "generators": [
                {"list": {"elements": [{"name": "a", "size": "s"}, {"name": "b", "size": "s"}]}},
                {"list": {"elements": [{"name": "b", "size": "xl"}, {"name": "c", "size": "m"}]}},
            ],
        }
    }
    assert run(raw) == [{"name": "a", "size": "s"}, {"name": "b", "size": "xl"}]


def test_glob_rules() -> None:
    assert g.glob_regex("apps/*").fullmatch("apps/a")
    assert not g.glob_regex("apps/*").fullmatch("apps/a/b")
    assert g.glob_regex("**/config.json").fullmatch("config.json")
    assert g.glob_regex("a/**/c.json").fullmatch("a/b/d/c.json")
    assert g.glob_regex("a/[!x]").fullmatch("a/y")
