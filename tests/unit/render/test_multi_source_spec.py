"""spec.sources parsing, per-source revisions and $ref value files, on plain data."""

from __future__ import annotations

import pytest

from tether.adapters.render import RenderError
from tether.controller import ref_values
from tether.controller.sources.multi import split_revision
from tether.engine import application as appmodel

CHART = {"repoURL": "https://charts.example.com", "chart": "web", "targetRevision": "^1"}
VALUES = {"repoURL": "https://git.example.com/config.git", "ref": "values"}


def test_sources_without_source_parse_and_the_first_stands_for_the_app() -> None:
    spec = appmodel.parse_spec({"sources": [CHART, VALUES], "destination": {"namespace": "a"}})
    assert spec.source.chart == "web"
    assert [s.renders for s in spec.all_sources] == [True, False]
    again = appmodel.parse_spec(appmodel.new_application("x", "tether", spec)["spec"])
    assert [s.renders for s in again.all_sources] == [True, False]
    assert "source" not in appmodel.new_application("x", "tether", spec)["spec"]


def test_source_and_different_sources_are_refused() -> None:
    with pytest.raises(appmodel.SpecError, match="keep one"):
        appmodel.parse_spec(
            {"source": VALUES, "sources": [CHART], "destination": {"namespace": "a"}}
        )


def test_argo_cd_multi_source_manifest_converts() -> None:
    manifest = {
        "metadata": {"name": "web"},
        "spec": {"sources": [CHART, VALUES], "destination": {"namespace": "a"}},
    }
    spec = appmodel.from_argocd(manifest, "tether")["spec"]
    assert spec["sources"][1] == VALUES


def test_project_checks_every_source() -> None:
    from tether.engine import projects

    project = projects.parse(
        projects.new_project(
            "p",
            "tether",
            {
                "sourceRepos": ["https://charts.example.com"],
                "destinations": [{"server": "*", "namespace": "*"}],
            },
        )
    )
    spec = appmodel.parse_spec({"sources": [CHART, VALUES], "destination": {"namespace": "a"}})
    problems = projects.check_app(project, spec, "tether")
    assert any("git.example.com/config.git" in p for p in problems)


def test_revisions_split_per_source() -> None:
    assert split_revision("1.0.0,abc", 2) == ["1.0.0", "abc"]
    assert split_revision(None, 2) == [None, None]
    assert split_revision("1.2.0", 2) == ["1.2.0", None]


def test_ref_value_files_are_copied_into_the_chart() -> None:
    source = {"helm": {"valueFiles": ["values.yaml", "$values/envs/prod.yaml"]}}
    refs = {"values": {"envs/prod.yaml": b"a: 1\n"}}
    out, files, digest = ref_values.inject(source, {"web/Chart.yaml": b""}, "web", refs)
    assert out["helm"]["valueFiles"] == ["values.yaml", ".tether-refs/values/envs/prod.yaml"]
    assert files["web/.tether-refs/values/envs/prod.yaml"] == b"a: 1\n"
    changed = {"values": {"envs/prod.yaml": b"a: 2\n"}}
    assert ref_values.inject(source, {}, "web", changed)[2] != digest


def test_ref_value_file_missing_or_escaping_is_refused() -> None:
    refs = {"values": {"a.yaml": b""}}
    with pytest.raises(RenderError, match="not found"):
        ref_values.inject({"helm": {"valueFiles": ["$values/b.yaml"]}}, {}, "", refs)
    with pytest.raises(RenderError, match="escapes"):
        ref_values.inject({"helm": {"valueFiles": ["$values/../../x"]}}, {}, "", refs)
