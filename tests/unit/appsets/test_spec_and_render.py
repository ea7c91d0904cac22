"""Parsing ApplicationSets (Tether's and Argo CD's) and rendering their Applications."""

from __future__ import annotations

from typing import Any

import pytest

from tether.engine.appsets import render, spec
from tether.engine.appsets.spec import SetSpecError

REPO = "https://git.example.com/platform.git"


def a_set(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "goTemplate": True,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [{"list": {"elements": [{"name": "alpha"}, {"name": "beta"}]}}],
        "template": {
            "metadata": {"name": "web-{{.name}}", "labels": {"tier": "{{.name}}"}},
            "spec": {
                "project": "default",
                "source": {"repoURL": REPO, "path": "apps/{{.name}}", "targetRevision": "main"},
                "destination": {
                    "server": "https://kubernetes.default.svc",
                    "namespace": "{{.name}}",
                },
            },
        },
    }
    body.update(extra)
    return body


def test_a_generated_application_carries_the_rendered_spec_and_the_set_label() -> None:
    parsed = spec.parse_spec(a_set())
    apps = render.applications("web", parsed, [{"name": "alpha"}], "tether")
    assert apps[0]["metadata"] == {
        "name": "web-alpha",
        "namespace": "tether",
        "labels": {"tier": "alpha", spec.SET_LABEL: "web"},
    }
    assert apps[0]["spec"]["source"]["path"] == "apps/alpha"
    assert apps[0]["spec"]["destination"]["namespace"] == "alpha"


def test_unsupported_fields_are_refused_by_name() -> None:
    with pytest.raises(SetSpecError, match=r"spec.templatePatch: not supported by Tether"):
        spec.parse_spec(a_set(templatePatch="x"))
    with pytest.raises(SetSpecError, match=r"spec.generators.0.scmProvider: not supported"):
        spec.parse_spec(a_set(generators=[{"scmProvider": {}}]))
    with pytest.raises(SetSpecError, match=r"goTemplateOptions.*only missingkey=error"):
        spec.parse_spec(a_set(goTemplateOptions=["missingkey=zero"]))


def test_a_templated_project_is_refused() -> None:
    body = a_set()
    body["template"]["spec"]["project"] = "{{.name}}"
    with pytest.raises(SetSpecError, match=r"spec.template.spec.project.*plain name"):
        spec.parse_spec(body)


def test_the_default_policy_never_deletes() -> None:
    policy = spec.parse_spec(a_set()).sync_policy
    assert policy.applications_sync == "create-update"
    assert policy.may_update and not policy.may_delete
    sync = spec.parse_spec(a_set(syncPolicy={"applicationsSync": "sync"})).sync_policy
    assert sync.may_delete


def test_template_errors_name_the_field_and_the_parameter_set() -> None:
    body = a_set()
    body["template"]["spec"]["source"]["path"] = "apps/{{.nmae}}"
    parsed = spec.parse_spec(body)
    with pytest.raises(render.RenderError) as err:
        render.applications("web", parsed, [{"name": "alpha"}], "tether")
    message = str(err.value)
    assert message.startswith("spec.template.spec.source.path: map has no entry for key 'nmae'")
    assert "parameter set 0 (name=alpha)" in message


def test_two_sets_generating_one_name_and_bad_names_are_refused() -> None:
    body = a_set()
    body["template"]["metadata"]["name"] = "web"
    with pytest.raises(render.RenderError, match="parameter sets 0 and 1 both generate"):
        render.applications("web", spec.parse_spec(body), [{"name": "a"}, {"name": "b"}], "t")
    body["template"]["metadata"]["name"] = "Web_{{.name}}"
    with pytest.raises(render.RenderError, match="not a valid Application name"):
        render.applications("web", spec.parse_spec(body), [{"name": "a"}], "t")


def test_an_invalid_generated_spec_names_the_field() -> None:
    body = a_set()
    body["template"]["spec"]["syncPolicy"] = {"syncOptions": ["Bogus=true"]}
    with pytest.raises(render.RenderError, match=r"spec.template.spec: .*unknown sync option"):
        render.applications("web", spec.parse_spec(body), [{"name": "a"}], "t")


def test_an_argocd_manifest_converts_into_the_app_namespace() -> None:
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": "web", "namespace": "argocd", "labels": {"a": "b"}},
        "spec": a_set(),
    }
    assert spec.is_argocd(manifest)
    obj = spec.from_argocd(manifest, "tether")
    assert obj["apiVersion"] == "tether.dev/v1alpha1"
    assert obj["metadata"] == {"name": "web", "namespace": "tether", "labels": {"a": "b"}}
    assert obj["spec"] == manifest["spec"]
    manifest["spec"] = a_set(ignoreApplicationDifferences=[{}])
    with pytest.raises(SetSpecError, match=r"Argo CD ApplicationSet web: spec.ignoreApp"):
        spec.from_argocd(manifest, "tether")


def test_argocd_template_details_convert_like_an_argocd_application() -> None:
    body = a_set()
    body["template"]["metadata"]["namespace"] = "argocd"
    body["template"]["metadata"]["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
    body["template"]["spec"]["destination"] = {"name": "in-cluster", "namespace": "x"}
    apps = render.applications("web", spec.parse_spec(body), [{"name": "a"}], "tether")
    assert apps[0]["metadata"]["namespace"] == "tether"
    assert "finalizers" not in apps[0]["metadata"]
    assert apps[0]["spec"]["destination"] == {
        "namespace": "x",
        "server": "https://kubernetes.default.svc",
    }


def test_legacy_templates_render_flat_parameters() -> None:
    body = a_set(goTemplate=False, goTemplateOptions=[])
    body["template"]["metadata"]["name"] = "web-{{name}}"
    body["template"]["metadata"]["labels"] = {}
    body["template"]["spec"]["source"]["path"] = "apps/{{ name }}"
    body["template"]["spec"]["destination"]["namespace"] = "{{name}}"
    apps = render.applications("web", spec.parse_spec(body), [{"name": "a"}], "t")
    assert apps[0]["spec"]["source"]["path"] == "apps/a"
