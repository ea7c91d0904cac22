"""``tether clusters``: the clusters Applications may deploy to.

``add`` reads one context of a kubeconfig (token, client certificate or exec
plugin, CA, TLS server name, proxy) into a cluster Secret in the app
namespace, in Argo CD's format; ``list`` shows each cluster's reachability,
Kubernetes version and how many Applications deploy there; ``remove``
deletes the Secret. (``tether cluster``, singular, runs the local test
cluster.) Credentials are never printed.
"""

from __future__ import annotations

import sys

import click
from rich.table import Table

from tether.adapters.kube import ApiError, Conflict, KubeClient, NotFound, cluster_config
from tether.adapters.kube import config as kubeconfig_mod
from tether.cli.context import EXIT_ERROR, EXIT_NOT_FOUND, coroutine, emit, err, kube_options, out
from tether.controller import clusters as pool
from tether.engine import application as appmodel
from tether.engine import clusters as model


@click.group()
def clusters() -> None:
    """Clusters Applications deploy to (registered as Argo CD-style cluster Secrets)."""


@clusters.command()
@click.argument("name")
@click.option("--kubeconfig", "source", envvar="KUBECONFIG", help="Kubeconfig of the cluster.")
@click.option("--context", default=None, help="Context in it (default: its current one).")
@click.option("--namespace", "namespaces", multiple=True, help="Limit to these namespaces.")
@click.option("--project", default="", help="Only this project's apps may deploy there.")
@click.option("--label", "labels", multiple=True, help="KEY=VALUE label on the cluster.")
@click.option(
    "--server",
    default=None,
    help="Server URL as Tether reaches it (default: as in the kubeconfig).",
)
@click.option("--upsert", is_flag=True, help="Replace a cluster registered under this name.")
@click.option(
    "--tether-kubeconfig",
    envvar="TETHER_KUBECONFIG",
    default=None,
    help="Kubeconfig of the cluster Tether runs in (default: $KUBECONFIG).",
)
@click.option("--tether-context", default=None, help="Context of the cluster Tether runs in.")
@click.option("--app-namespace", default="tether", show_default=True, envvar="TETHER_NAMESPACE")
@coroutine
async def add(
    name: str,
    source: str | None,
    context: str | None,
    namespaces: tuple[str, ...],
    project: str,
    labels: tuple[str, ...],
    server: str | None,
    upsert: bool,
    tether_kubeconfig: str | None,
    tether_context: str | None,
    app_namespace: str,
) -> None:
    """Register the cluster of a kubeconfig context under NAME."""
    if not source:
        err.print("[red]error:[/] --kubeconfig (or $KUBECONFIG) names the cluster to add")
        sys.exit(EXIT_ERROR)
    try:
        found_server, config = cluster_config.from_kubeconfig(source, context)
    except kubeconfig_mod.ConfigError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(EXIT_ERROR)
    pairs = [lbl.split("=", 1) for lbl in labels]
    if any(len(p) != 2 for p in pairs):
        err.print("[red]error:[/] --label takes KEY=VALUE")
        sys.exit(EXIT_ERROR)
    cluster = model.Cluster(
        name=name,
        server=(server or found_server).rstrip("/"),
        config=config,
        namespaces=namespaces,
        project=project,
        labels=tuple((k, v) for k, v in pairs),
    )
    secret = model.to_secret(cluster, app_namespace)
    conn = kubeconfig_mod.load(tether_kubeconfig, tether_context)
    async with KubeClient(conn) as kube:
        try:
            await kube.create(secret)
        except Conflict:
            if not upsert:
                err.print(
                    f"[red]error:[/] cluster {name} is registered already (--upsert replaces it)"
                )
                sys.exit(EXIT_ERROR)
            await kube.apply(secret, field_manager="tether-cli")
    out.print(
        f"cluster {name} ({cluster.server}) registered as Secret "
        f"{app_namespace}/{secret['metadata']['name']}",
        highlight=False,
    )


@clusters.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@kube_options
@coroutine
async def list_(output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Every cluster with reachability, Kubernetes version and app count."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        api = await kube.resource_for(appmodel.API_VERSION, appmodel.KIND)
        apps, _ = await kube.list(api, app_namespace)
        rows = await pool.overview(kube, app_namespace, apps)
    if emit(rows, output):
        return
    table = Table(box=None, pad_edge=False)
    for column in ("NAME", "SERVER", "VERSION", "APPS", "STATUS"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = (
            "[green]Reachable[/]" if row["reachable"] else f"[red]Unreachable[/]: {row['message']}"
        )
        table.add_row(
            str(row["name"]),
            str(row["server"]),
            str(row["version"] or "-"),
            str(row["apps"]),
            status,
        )
    out.print(table)


@clusters.command()
@click.argument("name")
@kube_options
@coroutine
async def remove(name: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Forget the cluster registered as NAME (by name or server). Its apps turn Unknown."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        api = await kube.resource_for("v1", "Secret")
        items, _ = await kube.list(
            api, app_namespace, label_selector=f"{model.SECRET_TYPE_LABEL}={model.SECRET_TYPE}"
        )
        targets = []
        for item in items:
            try:
                found = model.from_secret(item)
            except model.ClusterSecretError:
                continue
            if name in (found.name, found.server):
                targets.append(found)
        if not targets:
            err.print(f"[red]error:[/] no cluster {name} is registered", highlight=False)
            sys.exit(EXIT_NOT_FOUND)
        for found in targets:
            try:
                await kube.delete("v1", "Secret", found.secret, app_namespace)
            except (NotFound, ApiError) as exc:
                err.print(f"[red]error:[/] {exc}", highlight=False)
                sys.exit(EXIT_ERROR)
            out.print(f"cluster {found.name} ({found.server}) removed", highlight=False)
