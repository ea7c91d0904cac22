"""Multi-source apps (Argo CD's spec.sources): a chart from a chart repository, values from Git."""

from __future__ import annotations

from typing import Any

from fixtures.tether import APP_NS, Apps, condition
from tether.engine import application as appmodel


async def _create(apps: Apps, name: str, spec: dict[str, Any]) -> str:
    """An Application in Argo CD's multi-source form: ``sources`` and no ``source``."""
    await apps.kube.create(
        {
            "apiVersion": appmodel.API_VERSION,
            "kind": appmodel.KIND,
            "metadata": {"name": name, "namespace": APP_NS},
            "spec": spec,
        }
    )
    apps.created.append(name)
    return name


EXTRA = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: side-by-side\ndata: {a: b}\n"


async def test_chart_with_values_from_git_and_a_plain_git_source(
    git_repo: Any, chart_repo: Any, charts: Any, repo_secrets: Any, apps: Apps, dest_namespace: str
) -> None:
    charts.publish(chart_repo, "web", "1.0.0")
    await repo_secrets.create(
        url=chart_repo.url, type="helm", username=chart_repo.user, password=chart_repo.password
    )
    first = git_repo.commit(
        {"envs/prod/values.yaml": "greeting: hello prod\n", "extra/cm.yaml": EXTRA}
    )
    sources = [
        {
            "repoURL": chart_repo.url,
            "chart": "web",
            "targetRevision": "^1",
            "helm": {"valueFiles": ["$values/envs/prod/values.yaml"]},
        },
        {"repoURL": git_repo.git_url, "targetRevision": "main", "ref": "values"},
        {"repoURL": git_repo.git_url, "targetRevision": "main", "path": "extra"},
    ]
    name = await _create(
        apps,
        f"multi-{dest_namespace}",
        {
            "sources": sources,
            "destination": {"namespace": dest_namespace},
            "syncPolicy": {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]},
        },
    )
    st = await apps.wait_synced(name, healthy=True, revision=f"1.0.0,{first},{first}")
    cm = await apps.kube.get("v1", "ConfigMap", "web-settings", dest_namespace)
    assert cm["data"] == {"chartVersion": "1.0.0", "greeting": "hello prod"}
    assert await apps.kube.get_or_none("v1", "ConfigMap", "side-by-side", dest_namespace)
    assert "web 1.0.0" in st["revisionMessage"] and f"values@{first[:12]}" in st["revisionMessage"]

    # A values-only commit is a new app revision and re-renders the chart.
    second = git_repo.commit({"envs/prod/values.yaml": "greeting: hi again\n"}, message="values")
    await apps.wait_synced(name, revision=f"1.0.0,{second},{second}")
    cm = await apps.kube.get("v1", "ConfigMap", "web-settings", dest_namespace)
    assert cm["data"]["greeting"] == "hi again"


async def test_value_file_naming_an_unknown_ref_is_a_condition(
    git_repo: Any, chart_repo: Any, charts: Any, repo_secrets: Any, apps: Apps, dest_namespace: str
) -> None:
    charts.publish(chart_repo, "web", "1.0.0")
    await repo_secrets.create(
        url=chart_repo.url, type="helm", username=chart_repo.user, password=chart_repo.password
    )
    git_repo.commit({"values.yaml": "greeting: x\n"})
    sources = [
        {
            "repoURL": chart_repo.url,
            "chart": "web",
            "targetRevision": "1.0.0",
            "helm": {"valueFiles": ["$config/values.yaml"]},
        },
        {"repoURL": git_repo.git_url, "targetRevision": "main", "ref": "values"},
    ]
    name = await apps.create(
        git_repo.git_url, dest=dest_namespace, extra={"sources": sources, "source": sources[0]}
    )

    def refused(st: dict[str, Any]) -> bool:
        found = condition(st, "ComparisonError")
        return found is not None and "$config" in found["message"]

    st = await apps.wait(name, refused, "ComparisonError naming $config")
    assert "ref: config" in condition(st, "ComparisonError")["message"]  # type: ignore[index]
