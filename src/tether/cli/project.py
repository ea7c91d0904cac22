"""``tether project``: the tenant boundaries apps live in (Argo CD AppProjects accepted)."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table

from tether.adapters.kube import Conflict, KubeClient, NotFound
from tether.cli.context import (
    EXIT_ERROR,
    EXIT_NOT_FOUND,
    coroutine,
    emit,
    err,
    kube_options,
    out,
    output_option,
    read_manifest,
)
from tether.engine import projects
from tether.engine.application import IN_CLUSTER


@click.group()
def project() -> None:
    """Create, list, show and delete projects."""


def _group_kind(value: str) -> dict[str, str]:
    group, _, kind = value.rpartition("/")
    if not kind:
        raise click.BadParameter(f"{value!r}: expected GROUP/KIND (core kinds: /Namespace)")
    return {"group": group, "kind": kind}


def _destination(value: str) -> dict[str, str]:
    where, sep, namespace = value.partition(",")
    if not sep or not namespace:
        raise click.BadParameter(f"{value!r}: expected SERVER_OR_NAME,NAMESPACE_GLOB")
    key = "server" if "://" in where or where == "*" else "name"
    return {key: where or IN_CLUSTER, "namespace": namespace}


@project.command()
@click.argument("name", required=False)
@click.option("-f", "--file", "file", default=None, help="Project or Argo CD AppProject manifest.")
@click.option("--description", default="")
@click.option("--source-repo", multiple=True, help="Repository URL glob the apps may use.")
@click.option(
    "--destination",
    multiple=True,
    help="SERVER_OR_NAME,NAMESPACE_GLOB the apps may deploy to (e.g. in-cluster,team-a-*).",
)
@click.option(
    "--allow-cluster-resource",
    multiple=True,
    help="GROUP/KIND of a cluster-scoped kind the apps may create (core: /Namespace).",
)
@click.option(
    "--deny-namespaced-resource", multiple=True, help="GROUP/KIND of a namespaced kind refused."
)
@click.option(
    "--service-account",
    default=None,
    help="NAMESPACE:NAME (or NAME in each destination namespace) that syncs impersonate.",
)
@kube_options
@coroutine
async def create(
    name: str | None,
    file: str | None,
    description: str,
    source_repo: tuple[str, ...],
    destination: tuple[str, ...],
    allow_cluster_resource: tuple[str, ...],
    deny_namespaced_resource: tuple[str, ...],
    service_account: str | None,
    kubeconfig: str | None,
    app_namespace: str,
) -> None:
    """Create a project from flags or from a manifest (-f)."""
    try:
        if file:
            manifests = [_from_manifest(doc, app_namespace) for doc in read_manifest(file)]
        else:
            if not name:
                raise click.UsageError("NAME is required (or use -f FILE)")
            spec: dict[str, Any] = {
                "description": description,
                "sourceRepos": list(source_repo),
                "destinations": [_destination(d) for d in destination],
                "clusterResourceWhitelist": [_group_kind(g) for g in allow_cluster_resource],
                "namespaceResourceBlacklist": [_group_kind(g) for g in deny_namespaced_resource],
            }
            if service_account:
                spec["destinationServiceAccounts"] = [
                    {"server": "*", "namespace": "*", "defaultServiceAccount": service_account}
                ]
            manifests = [projects.new_project(name, app_namespace, spec)]
            projects.parse(manifests[0])
    except projects.ProjectError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_ERROR)
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        for manifest in manifests:
            try:
                await kube.create(manifest)
            except Conflict:
                err.print(f"[red]error:[/] project {manifest['metadata']['name']} already exists")
                sys.exit(EXIT_ERROR)
            out.print(f"project [bold]{manifest['metadata']['name']}[/] created")


def _from_manifest(doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    if doc.get("apiVersion") == projects.ARGO_API_VERSION and doc.get("kind") == "AppProject":
        return projects.from_argocd(doc, namespace)
    if doc.get("kind") != projects.KIND:
        raise projects.ProjectError(
            f"{(doc.get('metadata') or {}).get('name', '?')}: not a Project or AppProject"
        )
    obj = projects.new_project(str(doc["metadata"]["name"]), namespace, doc.get("spec") or {})
    projects.parse(obj)
    return obj


@project.command("list")
@output_option
@kube_options
@coroutine
async def list_projects(output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """List projects."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        api = await kube.resource_for(projects.API_VERSION, projects.KIND)
        items, _ = await kube.list(api, app_namespace)
    if emit([{"name": o["metadata"]["name"], "spec": o.get("spec")} for o in items], output):
        return
    table = Table("NAME", "SOURCES", "DESTINATIONS", "CLUSTER KINDS", "WINDOWS")
    for obj in sorted(items, key=lambda o: str(o["metadata"]["name"])):
        spec = projects.parse(obj).spec
        table.add_row(
            str(obj["metadata"]["name"]),
            ", ".join(spec.source_repos) or "-",
            ", ".join(f"{d.name or d.server},{d.namespace}" for d in spec.destinations) or "-",
            ", ".join(f"{g.group}/{g.kind}" for g in spec.cluster_resource_whitelist) or "-",
            str(len(spec.sync_windows)),
        )
    out.print(table)


@project.command()
@click.argument("name")
@output_option
@kube_options
@coroutine
async def get(name: str, output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Show one project."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        obj = await kube.get_or_none(projects.API_VERSION, projects.KIND, name, app_namespace)
    if obj is None:
        err.print(f"[red]error:[/] project {name} not found")
        sys.exit(EXIT_NOT_FOUND)
    if not emit(obj, "yaml" if output == "table" else output):
        return


@project.command()
@click.argument("name")
@kube_options
@coroutine
async def delete(name: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Delete a project (its apps then stop with a ProjectDenied condition)."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        try:
            await kube.get(projects.API_VERSION, projects.KIND, name, app_namespace)
        except NotFound:
            err.print(f"[red]error:[/] project {name} not found")
            sys.exit(EXIT_NOT_FOUND)
        await kube.delete(projects.API_VERSION, projects.KIND, name, app_namespace)
    out.print(f"project {name} deleted")
