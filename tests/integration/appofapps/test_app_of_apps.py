"""App of apps on the real control plane: a root app renders Argo CD Applications from Git.

The layout is Argo CD's as its users write it (a Helm chart or a plain
directory of ``argoproj.io`` Applications in ``metadata.namespace: argocd``);
the children become Tether apps in the app namespace and deploy their own
ConfigMaps from the same repository.
"""

from __future__ import annotations

from typing import Any

import yaml
from appofapps_helpers import Tree, argo_application, condition, configmap_yaml

from fixtures.tether import APP_NS, Apps, Projects
from tether.controller.runtime import Controller
from tether.engine import application as appmodel

CHART_VALUES_TEMPLATE = """\
{{- range .Values.apps }}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {{ .name }}
  namespace: argocd
  finalizers:
    - resources-finalizer.argocd.argoproj.io
spec:
  project: default
  source:
    repoURL: {{ $.Values.repoURL }}
    targetRevision: main
    path: apps/{{ .name }}
  destination:
    server: https://kubernetes.default.svc
    namespace: {{ .namespace }}
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
    syncOptions:
      - CreateNamespace=true
{{- end }}
"""


def root_manifest(tree: Tree, repo_url: str, path: str, project: str) -> dict[str, Any]:
    manifest = argo_application(
        tree.name("root"), repo_url=repo_url, path=path, dest="argocd", project=project
    )
    del manifest["metadata"]["finalizers"]
    manifest["spec"]["syncPolicy"]["syncOptions"] = []
    return manifest


def is_synced_and_healthy(st: dict[str, Any]) -> bool:
    return (st.get("sync") or {}).get("status") == "Synced" and (st.get("health") or {}).get(
        "status"
    ) == "Healthy"


async def test_an_argo_cd_root_chart_creates_its_children_as_tether_apps_that_sync(
    tree: Tree, git_repo: Any, apps: Apps, platform_project: str, controller: Controller
) -> None:
    children = {tree.name(c): tree.namespace(c) for c in ("pay", "ship", "mail")}
    files = {f"apps/{c}/configmap.yaml": configmap_yaml(f"{c}-settings", c) for c in children}
    files["root/Chart.yaml"] = "apiVersion: v2\nname: apps\nversion: 0.1.0\n"
    files["root/values.yaml"] = yaml.safe_dump(
        {
            "repoURL": git_repo.git_url,
            "apps": [{"name": c, "namespace": ns} for c, ns in children.items()],
        }
    )
    files["root/templates/applications.yaml"] = CHART_VALUES_TEMPLATE
    git_repo.commit(files)
    root = await tree.create_root(root_manifest(tree, git_repo.git_url, "root", platform_project))

    for child, ns in children.items():
        st = await tree.wait(child, is_synced_and_healthy, "Synced and Healthy")
        app = await tree.app(child)
        assert app is not None
        assert app["apiVersion"] == appmodel.API_VERSION
        assert app["metadata"]["labels"][appmodel.INSTANCE_LABEL] == root
        assert app["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
        assert app["spec"]["destination"]["namespace"] == ns
        assert await tree.configmap(f"{child}-settings", ns) is not None
        assert st["sync"]["revision"]

    def children_healthy_in_tree(st: dict[str, Any]) -> bool:
        listed = {
            r["name"]: (r.get("health") or {}).get("status")
            for r in st.get("resources") or []
            if r["kind"] == "Application"
        }
        return is_synced_and_healthy(st) and listed == {c: "Healthy" for c in children}

    st = await apps.wait(root, children_healthy_in_tree, "each child Healthy in the root's tree")
    assert {(r["group"], r["namespace"]) for r in st["resources"]} == {("tether.dev", APP_NS)}
    assert await tree.app(root) is not None


async def test_removing_a_child_from_git_deletes_it_and_with_the_finalizer_its_resources(
    tree: Tree, git_repo: Any, apps: Apps, platform_project: str, controller: Controller
) -> None:
    keep, cascade, leave = tree.name("keep"), tree.name("cascade"), tree.name("leave")
    namespaces = {c: tree.namespace(c.rsplit("-", 1)[0]) for c in (keep, cascade, leave)}
    files = {f"apps/{c}/configmap.yaml": configmap_yaml(f"{c}-settings", c) for c in namespaces}
    for child, ns in namespaces.items():
        manifest = argo_application(
            child,
            repo_url=git_repo.git_url,
            path=f"apps/{child}",
            dest=ns,
            finalizer=child != leave,
        )
        files[f"root/{child}.yaml"] = yaml.safe_dump(manifest)
    git_repo.commit(files)
    root = await tree.create_root(root_manifest(tree, git_repo.git_url, "root", platform_project))
    for child in namespaces:
        await tree.wait(child, is_synced_and_healthy, "Synced and Healthy")

    sha = git_repo.commit(
        {f"root/{cascade}.yaml": None, f"root/{leave}.yaml": None}, message="retire two apps"
    )
    await apps.wait_synced(root, revision=sha)

    await tree.wait_gone(cascade)
    await tree.wait_gone(leave)
    # With the finalizer the child's resources went first; without it they stay (Argo CD's rule).
    assert await tree.configmap(f"{cascade}-settings", namespaces[cascade]) is None
    assert await tree.configmap(f"{leave}-settings", namespaces[leave]) is not None
    assert await tree.configmap(f"{keep}-settings", namespaces[keep]) is not None
    st = await apps.wait(keep, is_synced_and_healthy, "still Synced and Healthy")
    assert st["sync"]["status"] == "Synced"
    events = [e["reason"] for e in await apps.events(cascade)]
    assert "ResourcesDeleted" in events


async def test_a_child_that_renders_its_parent_is_refused_and_nothing_is_applied(
    tree: Tree, git_repo: Any, apps: Apps, platform_project: str, controller: Controller
) -> None:
    child = tree.name("rebel")
    root_name = tree.name("root")
    rogue_root = argo_application(
        root_name, repo_url=git_repo.git_url, path="elsewhere", dest="argocd"
    )
    files = {
        f"root/{child}.yaml": yaml.safe_dump(
            argo_application(
                child,
                repo_url=git_repo.git_url,
                path=f"apps/{child}",
                dest=tree.namespace("rebel"),
                project=platform_project,
                finalizer=False,
            )
        ),
        # The child's own path renders its parent, with a different source.
        f"apps/{child}/root.yaml": yaml.safe_dump(rogue_root),
    }
    git_repo.commit(files)
    root = await tree.create_root(root_manifest(tree, git_repo.git_url, "root", platform_project))
    assert root == root_name
    before = await tree.app(root)
    assert before is not None

    def refused(st: dict[str, Any]) -> bool:
        return condition(st, "ManagesAncestor") is not None

    st = await tree.wait(child, refused, "ManagesAncestor")
    message = condition(st, "ManagesAncestor")["message"]  # type: ignore[index]
    assert f"Application/{root} is an app above this one ({root} -> {child})" in message
    assert message.startswith("nothing applied")
    after = await tree.app(root)
    assert after is not None
    assert after["spec"]["source"]["path"] == "root"
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert not (st.get("operationState") or {}).get("phase")


async def test_a_root_whose_project_does_not_allow_applications_is_refused_and_creates_nothing(
    tree: Tree, git_repo: Any, apps: Apps, make_project: Projects, controller: Controller
) -> None:
    closed = await make_project.create(
        destinations=[{"server": "*", "namespace": APP_NS}, {"server": "*", "namespace": "*"}]
    )
    child = tree.name("denied")
    git_repo.commit(
        {
            f"root/{child}.yaml": yaml.safe_dump(
                argo_application(
                    child, repo_url=git_repo.git_url, path="apps", dest=tree.namespace("d")
                )
            )
        }
    )
    root = await tree.create_root(root_manifest(tree, git_repo.git_url, "root", closed))

    st = await apps.wait(root, lambda s: condition(s, "ProjectDenied") is not None, "denied")
    message = condition(st, "ProjectDenied")["message"]  # type: ignore[index]
    assert f"Application/{child}" in message and "namespaceResourceWhitelist" in message
    assert await tree.app(child) is None


async def test_a_root_whose_project_lacks_the_app_namespace_is_refused_and_creates_nothing(
    tree: Tree, git_repo: Any, apps: Apps, make_project: Projects, controller: Controller
) -> None:
    no_app_namespace = await make_project.create(
        namespaceResourceWhitelist=[{"group": "tether.dev", "kind": "Application"}]
    )
    child = tree.name("denied")
    git_repo.commit(
        {
            f"root/{child}.yaml": yaml.safe_dump(
                argo_application(
                    child, repo_url=git_repo.git_url, path="apps", dest=tree.namespace("d")
                )
            )
        }
    )
    root = await tree.create_root(root_manifest(tree, git_repo.git_url, "root", no_app_namespace))

    st = await apps.wait(root, lambda s: condition(s, "ProjectDenied") is not None, "denied")
    message = condition(st, "ProjectDenied")["message"]  # type: ignore[index]
    assert f"Application/{child}" in message
    assert f"app namespace {APP_NS!r}, which is not a destination of project" in message
    assert await tree.app(child) is None


async def test_a_child_naming_a_project_its_root_does_not_delegate_to_is_refused(
    tree: Tree,
    git_repo: Any,
    apps: Apps,
    platform_project: str,
    make_project: Projects,
    controller: Controller,
) -> None:
    wider = await make_project.create(
        clusterResourceWhitelist=[{"group": "*", "kind": "*"}],
        destinations=[{"server": "*", "namespace": "*"}],
    )
    child = tree.name("escape")
    git_repo.commit(
        {
            f"root/{child}.yaml": yaml.safe_dump(
                argo_application(
                    child,
                    repo_url=git_repo.git_url,
                    path="apps",
                    dest=tree.namespace("e"),
                    project=wider,
                )
            )
        }
    )
    root = await tree.create_root(root_manifest(tree, git_repo.git_url, "root", platform_project))

    st = await apps.wait(root, lambda s: condition(s, "ProjectDenied") is not None, "denied")
    message = condition(st, "ProjectDenied")["message"]  # type: ignore[index]
    assert f"Application/{child} names project {wider!r}" in message
    assert "childProjects" in message
    assert await tree.app(child) is None


async def test_a_root_rendering_an_argo_cd_applicationset_generates_apps_in_its_project(
    tree: Tree, git_repo: Any, make_project: Projects, controller: Controller
) -> None:
    platform = await make_project.create(
        childProjects=["default"],
        namespaceResourceWhitelist=[
            {"group": "argoproj.io", "kind": "Application"},
            {"group": "argoproj.io", "kind": "ApplicationSet"},
        ],
        destinations=[{"server": "*", "namespace": APP_NS}, {"server": "*", "namespace": "*"}],
    )
    teams = {tree.name(t): tree.namespace(t) for t in ("pay", "ship")}
    appset = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": tree.name("teams"), "namespace": "argocd"},
        "spec": {
            "generators": [
                {"list": {"elements": [{"team": t, "ns": ns} for t, ns in teams.items()]}}
            ],
            "template": {
                "metadata": {"name": "{{team}}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": git_repo.git_url, "path": "apps/{{team}}"},
                    "destination": {
                        "server": "https://kubernetes.default.svc",
                        "namespace": "{{ns}}",
                    },
                    "syncPolicy": {
                        "automated": {"prune": True},
                        "syncOptions": ["CreateNamespace=true"],
                    },
                },
            },
        },
    }
    files = {f"apps/{t}/configmap.yaml": configmap_yaml(f"{t}-settings", t) for t in teams}
    files["root/teams.yaml"] = yaml.safe_dump(appset)
    git_repo.commit(files)
    await tree.create_root(root_manifest(tree, git_repo.git_url, "root", platform))
    try:
        for team, ns in teams.items():
            await tree.wait(team, is_synced_and_healthy, "generated by the set and synced")
            assert await tree.configmap(f"{team}-settings", ns) is not None
        generated = await tree.app(next(iter(teams)))
        assert generated is not None and generated["spec"]["project"] == "default"
    finally:
        await tree.kube.delete(appmodel.API_VERSION, "ApplicationSet", tree.name("teams"), APP_NS)
