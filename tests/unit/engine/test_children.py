"""App of apps on plain data: converting rendered Applications, placing them, the guard."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tether.engine import children, plan, projects
from tether.engine.objects import ObjectKey, key_of

ARGO_CHILD = yaml.safe_load(
    """
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: payments
  namespace: argocd
  labels: {team: money}
  annotations: {argocd.argoproj.io/sync-wave: "1", tether.dev/depends-on: db}
  finalizers: [resources-finalizer.argocd.argoproj.io]
spec:
  project: default
  source:
    repoURL: https://git.example.com/payments.git
    targetRevision: HEAD
    path: deploy
  destination:
    server: https://kubernetes.default.svc
    namespace: payments
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true]
"""
)


def test_an_argo_cd_child_becomes_a_tether_app_in_the_app_namespace() -> None:
    out = children.convert(ARGO_CHILD, "tether")
    assert out["apiVersion"] == "tether.dev/v1alpha1"
    assert out["metadata"]["namespace"] == "tether"
    assert out["spec"]["source"]["repoURL"] == "https://git.example.com/payments.git"
    assert out["spec"]["destination"]["namespace"] == "payments"
    assert out["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_conversion_keeps_labels_annotations_and_the_finalizer() -> None:
    meta = children.convert(ARGO_CHILD, "tether")["metadata"]
    assert meta["labels"] == {"team": "money"}
    assert meta["annotations"]["tether.dev/depends-on"] == "db"
    assert meta["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]


def test_a_tether_child_keeps_its_spec_and_loses_any_status() -> None:
    native = {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "db"},
        "spec": {"source": {"repoURL": "x"}, "destination": {"namespace": "db"}},
        "status": {"sync": {"status": "Synced"}},
    }
    out = children.convert(native, "tether")
    assert out["spec"] == native["spec"] and "status" not in out
    assert out["metadata"] == {"name": "db", "namespace": "tether"}


def test_a_child_in_another_namespace_is_refused_by_name() -> None:
    stray = dict(ARGO_CHILD, metadata={"name": "payments", "namespace": "team-a"})
    with pytest.raises(children.ChildError, match="Application/payments: namespace 'team-a'"):
        children.convert(stray, "tether")


def test_an_unsupported_argo_field_is_refused_naming_the_child() -> None:
    bad = dict(ARGO_CHILD, spec=dict(ARGO_CHILD["spec"], sources=[{"repoURL": "x"}]))
    with pytest.raises(children.ChildError, match=r"Application/payments: .*spec\.sources"):
        children.convert_all([bad], "tether")


def test_children_go_to_the_app_namespace_and_the_rest_to_the_destination() -> None:
    rendered = [
        children.convert(ARGO_CHILD, "tether"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}},
    ]
    placed = children.place(
        rendered,
        destination="platform",
        app_namespace="tether",
        namespaced={},
        app_label=("app.tether.dev/instance", "root"),
    )
    assert {key_of(o) for o in placed} == {
        ObjectKey("tether.dev", "Application", "tether", "payments"),
        ObjectKey("", "ConfigMap", "platform", "settings"),
    }
    assert all(o["metadata"]["labels"]["app.tether.dev/instance"] == "root" for o in placed)


def test_a_configmap_for_the_app_namespace_is_still_refused() -> None:
    stray = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "tether"},
    }
    with pytest.raises(plan.PlanError, match="outside the app's destination"):
        children.place(
            [stray],
            destination="platform",
            app_namespace="tether",
            namespaced={},
            app_label=("app.tether.dev/instance", "root"),
        )


def _app(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "tether"},
    }


PARENTS = {"child": "root", "grandchild": "child", "root": None}


def test_the_guard_refuses_an_app_that_renders_its_parent() -> None:
    refusal = children.guard("child", [_app("root"), _app("other")], PARENTS.get)
    assert refusal is not None
    assert "Application/root is an app above this one (root -> child)" in refusal
    assert refusal.startswith("nothing applied")


def test_the_guard_refuses_any_ancestor_and_the_app_itself() -> None:
    refusal = children.guard("grandchild", [_app("root"), _app("grandchild")], PARENTS.get)
    assert refusal is not None
    assert "Application/root is an app above this one (root -> child -> grandchild)" in refusal
    assert "Application/grandchild is this app itself" in refusal


def test_the_guard_lets_a_root_render_its_children() -> None:
    assert children.guard("root", [_app("child"), _app("sibling")], PARENTS.get) is None


def test_ancestors_stop_at_a_loop_made_by_hand() -> None:
    loop = {"a": "b", "b": "a"}
    assert children.ancestors("a", loop.get) == ["b", "a"]


def test_the_cascade_finalizers_are_argo_cds_and_tethers() -> None:
    foreground = {"metadata": {"finalizers": ["resources-finalizer.argocd.argoproj.io"]}}
    background = {"metadata": {"finalizers": ["resources-finalizer.argocd.argoproj.io/background"]}}
    none = {"metadata": {"finalizers": ["example.com/other"]}}
    assert children.cascades(foreground) and children.waits_for_resources(foreground)
    assert children.cascades(background) and not children.waits_for_resources(background)
    assert not children.cascades(none)
    assert children.cascades({"metadata": {"finalizers": ["resources-finalizer.tether.dev"]}})
    assert children.without_cascade(
        ["resources-finalizer.argocd.argoproj.io", "example.com/other"]
    ) == ["example.com/other"]


def test_a_project_whitelisting_either_group_allows_child_applications() -> None:
    child = ObjectKey("tether.dev", "Application", "tether", "payments")
    for group in ("tether.dev", "argoproj.io"):
        project = projects.parse(
            projects.new_project(
                "platform",
                "tether",
                {"namespaceResourceWhitelist": [{"group": group, "kind": "Application"}]},
            )
        )
        assert projects.check_objects(project, [child]) == [], group
    closed = projects.parse(projects.new_project("team", "tether", {}))
    assert "steers the CD system itself" in projects.check_objects(closed, [child])[0]


def _in_project(name: str, project: str | None) -> dict[str, Any]:
    app = _app(name)
    app["spec"] = {"project": project} if project else {}
    return app


def test_children_may_name_only_their_roots_project_unless_it_delegates() -> None:
    own = projects.parse(projects.new_project("platform", "tether", {}))
    assert children.project_refusal(own, [_in_project("a", "platform")]) is None
    refusal = children.project_refusal(own, [_in_project("b", None), _in_project("c", "admin")])
    assert refusal is not None
    assert "Application/b names project 'default'" in refusal
    assert "Application/c names project 'admin'" in refusal
    assert refusal.startswith("nothing applied")


def test_a_project_delegates_to_child_projects_by_glob() -> None:
    delegating = projects.parse(
        projects.new_project("platform", "tether", {"childProjects": ["team-*", "default"]})
    )
    ok = [_in_project("a", "team-pay"), _in_project("b", None)]
    assert children.project_refusal(delegating, ok) is None
    refusal = children.project_refusal(delegating, [_in_project("c", "admin")])
    assert refusal is not None and "'team-*'" in refusal


ARGO_SET = yaml.safe_load(
    """
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: teams, namespace: argocd, labels: {tier: platform}}
spec:
  generators:
    - list:
        elements: [{team: pay}, {team: ship}]
  template:
    metadata: {name: '{{team}}'}
    spec:
      project: default
      source: {repoURL: 'https://git.example.com/teams.git', path: '{{team}}'}
      destination: {server: 'https://kubernetes.default.svc', namespace: '{{team}}'}
"""
)


def test_an_argo_cd_applicationset_rendered_by_a_root_becomes_tethers_in_the_app_namespace() -> (
    None
):
    rendered = children.convert_all([ARGO_SET], "tether")
    placed = children.place(
        rendered,
        destination="platform",
        app_namespace="tether",
        namespaced={},
        app_label=("app.tether.dev/instance", "root"),
    )
    assert [key_of(o) for o in placed] == [
        ObjectKey("tether.dev", "ApplicationSet", "tether", "teams")
    ]
    assert placed[0]["metadata"]["labels"]["tier"] == "platform"
    assert placed[0]["spec"]["template"]["spec"]["project"] == "default"


def test_an_applicationset_in_another_namespace_is_refused_by_name() -> None:
    stray = dict(ARGO_SET, metadata={"name": "teams", "namespace": "team-a"})
    with pytest.raises(children.ChildError, match="ApplicationSet/teams: namespace 'team-a'"):
        children.convert_all([stray], "tether")
