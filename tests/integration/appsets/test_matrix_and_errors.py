"""Matrix of a list and Git files; template and generator errors become a condition on the
ApplicationSet and create or delete nothing; the project rule."""

from __future__ import annotations

import json
from typing import Any

from appsets_helpers import Sets, condition, configmap

from fixtures.tether import APP_NS, Projects
from tether.engine import application as appmodel
from tether.engine.appsets import spec as setmodel


def cluster_file(name: str, replicas: int) -> str:
    return json.dumps({"cluster": {"name": name, "replicas": replicas}})


def matrix_set(repo_url: str, prefix: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "goTemplate": True,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [
            {
                "matrix": {
                    "generators": [
                        {"list": {"elements": [{"team": "red"}, {"team": "blue"}]}},
                        {
                            "git": {
                                "repoURL": repo_url,
                                "revision": "main",
                                "files": [{"path": "clusters/*/config.json"}],
                            }
                        },
                    ]
                }
            }
        ],
        "template": {
            "metadata": {
                "name": prefix + "-{{.team}}-{{.cluster.name}}",
                "labels": {"team": "{{.team}}", "env": "{{.path.basename}}"},
            },
            "spec": {
                "source": {
                    "repoURL": repo_url,
                    "targetRevision": "main",
                    "path": "teams/{{.team}}",
                },
                "destination": {"namespace": prefix + "-{{.team}}-{{.cluster.name}}"},
            },
        },
        "syncPolicy": {"applicationsSync": "sync"},
    }
    body.update(extra)
    return body


async def test_matrix_of_a_list_and_git_files_makes_every_combination(
    git_repo: Any, sets: Sets
) -> None:
    git_repo.commit(
        {
            "clusters/dev/config.json": cluster_file("dev", 1),
            "clusters/prod/config.json": cluster_file("prod", 3),
            "teams/red/cm.yaml": configmap("red"),
            "teams/blue/cm.yaml": configmap("blue"),
        }
    )
    name = await sets.create(sets.name("matrix"), matrix_set(git_repo.git_url, sets.prefix))
    found = await sets.wait_apps(
        name,
        {f"{sets.prefix}-{t}-{e}" for t in ("red", "blue") for e in ("dev", "prod")},
    )
    app = found[f"{sets.prefix}-blue-prod"]
    assert app["spec"]["source"]["path"] == "teams/blue"
    assert app["spec"]["destination"]["namespace"] == f"{sets.prefix}-blue-prod"
    assert app["metadata"]["labels"]["team"] == "blue"
    assert app["metadata"]["labels"]["env"] == "prod"
    st = await sets.wait_status(
        name, lambda s: s.get("applicationCount") == 4, "four apps in status"
    )
    assert condition(st, "ErrorOccurred")["status"] == "False"
    assert len(st["resources"]) == 4

    # a new cluster file in Git adds one app per team
    git_repo.commit({"clusters/stage/config.json": cluster_file("stage", 2)})
    await sets.wait_apps(
        name,
        {f"{sets.prefix}-{t}-{e}" for t in ("red", "blue") for e in ("dev", "prod", "stage")},
    )


async def test_a_template_error_is_a_condition_naming_the_field_and_changes_nothing(
    git_repo: Any, sets: Sets
) -> None:
    git_repo.commit(
        {
            "clusters/dev/config.json": cluster_file("dev", 1),
            "teams/red/cm.yaml": configmap("red"),
            "teams/blue/cm.yaml": configmap("blue"),
        }
    )
    # never valid: nothing is created
    broken = matrix_set(git_repo.git_url, sets.prefix + "-b")
    broken["template"]["spec"]["source"]["path"] = "teams/{{.taem}}"
    bad = await sets.create(sets.name("broken"), broken)
    st = await sets.wait_status(
        bad, lambda s: condition(s, "ErrorOccurred").get("status") == "True", "ErrorOccurred"
    )
    message = condition(st, "ErrorOccurred")["message"]
    assert message.startswith("spec.template.spec.source.path: map has no entry for key 'taem'")
    assert condition(st, "ResourcesUpToDate")["status"] == "False"
    assert await sets.apps(bad) == {}

    # valid first, then broken by a spec change and by a commit: nothing is deleted
    name = await sets.create(sets.name("ok"), matrix_set(git_repo.git_url, sets.prefix))
    want = {f"{sets.prefix}-red-dev", f"{sets.prefix}-blue-dev"}
    await sets.wait_apps(name, want)
    await sets.patch(
        name, {"spec": {"template": {"metadata": {"name": sets.prefix + "-{{.team.name}}"}}}}
    )
    st = await sets.wait_status(
        name, lambda s: condition(s, "ErrorOccurred").get("status") == "True", "ErrorOccurred"
    )
    assert "spec.template.metadata.name: " in condition(st, "ErrorOccurred")["message"]
    assert "is not a map" in condition(st, "ErrorOccurred")["message"]
    assert set(await sets.apps(name)) == want

    await sets.patch(
        name,
        {
            "spec": {
                "template": {"metadata": {"name": sets.prefix + "-{{.team}}-{{.cluster.name}}"}}
            }
        },
    )
    await sets.wait_status(
        name, lambda s: condition(s, "ErrorOccurred").get("status") == "False", "error cleared"
    )
    git_repo.commit({"clusters/dev/config.json": "{not json", "clusters/x/config.json": "{}"})
    st = await sets.wait_status(
        name, lambda s: condition(s, "ErrorOccurred").get("status") == "True", "bad file"
    )
    message = condition(st, "ErrorOccurred")["message"]
    assert "clusters/dev/config.json is not valid JSON/YAML" in message
    assert message.startswith("spec.generators[0].matrix.generators[1].git.files")
    assert set(await sets.apps(name)) == want

    # a revision that does not exist: the same, naming the repository and revision
    await sets.patch(
        name,
        {
            "spec": {
                "generators": [
                    {
                        "git": {
                            "repoURL": git_repo.git_url,
                            "revision": "no-such-branch",
                            "files": [{"path": "clusters/*/config.json"}],
                        }
                    }
                ]
            }
        },
    )
    st = await sets.wait_status(
        name,
        lambda s: "no-such-branch" in condition(s, "ErrorOccurred").get("message", ""),
        "unknown revision",
    )
    assert condition(st, "ErrorOccurred")["message"].startswith("spec.generators: cannot read ")
    assert set(await sets.apps(name)) == want


async def test_apps_are_generated_only_in_an_existing_project_that_allows_the_repository(
    git_repo: Any, sets: Sets, make_project: Projects
) -> None:
    git_repo.commit({"clusters/dev/config.json": cluster_file("dev", 1)})
    missing = matrix_set(git_repo.git_url, sets.prefix + "-m")
    missing["template"]["spec"]["project"] = "no-such-project"
    name = await sets.create(sets.name("missing"), missing)
    st = await sets.wait_status(
        name, lambda s: condition(s, "ErrorOccurred").get("status") == "True", "refused"
    )
    assert (
        "spec.template.spec.project: project 'no-such-project' does not exist"
        in (condition(st, "ErrorOccurred")["message"])
    )
    narrow = await make_project.create(sourceRepos=["https://git.example.com/only/*"])
    other = matrix_set(git_repo.git_url, sets.prefix + "-n")
    other["template"]["spec"]["project"] = narrow
    name2 = await sets.create(sets.name("narrow"), other)
    # (projects are listed every few seconds: the new one may first be "missing")
    await sets.wait_status(
        name2,
        lambda s: (
            f"is not allowed by project '{narrow}'"
            in condition(s, "ErrorOccurred").get("message", "")
        ),
        "refused: repository not allowed",
    )
    assert await sets.apps(name) == {} and await sets.apps(name2) == {}

    # a set deployed by an app (its instance label) stays in that app's project
    root = sets.name("root")
    await sets.kube.create(
        appmodel.new_application(
            root,
            APP_NS,
            appmodel.parse_spec(
                {
                    "source": {"repoURL": git_repo.git_url, "path": "none"},
                    "destination": {"namespace": root},
                }
            ),
        )
    )
    try:
        wide = await make_project.create()
        child = matrix_set(git_repo.git_url, sets.prefix + "-c")
        child["template"]["spec"]["project"] = wide
        name3 = sets.name("child")
        obj = setmodel.new_set(name3, APP_NS, child)
        obj["metadata"]["labels"] = {appmodel.INSTANCE_LABEL: root}
        await sets.kube.create(obj)
        sets.created.append(name3)
        st = await sets.wait_status(
            name3,
            lambda s: (
                "may only generate apps in that project"
                in condition(s, "ErrorOccurred").get("message", "")
            ),
            "refused: another project than its app's",
        )
        assert (
            f"deployed by application {root} (project 'default')"
            in (condition(st, "ErrorOccurred")["message"])
        )
        assert await sets.apps(name3) == {}

        # ...unless the app's project delegates to the set's project (childProjects)
        parent = await make_project.create(childProjects=[wide])
        await sets.kube.merge_patch(
            appmodel.API_VERSION, appmodel.KIND, root, {"spec": {"project": parent}}, APP_NS
        )
        await sets.wait_apps(name3, {f"{sets.prefix}-c-red-dev", f"{sets.prefix}-c-blue-dev"})
    finally:
        await sets.kube.delete(appmodel.API_VERSION, appmodel.KIND, root, APP_NS)
