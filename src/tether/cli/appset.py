"""``tether appset``: ApplicationSets (Argo CD's manifests accepted) and what they generated."""

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
from tether.engine.appsets import spec as model


@click.group()
def appset() -> None:
    """Create, list, show and delete ApplicationSets."""


def from_manifest(doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A Tether ApplicationSet from a Tether or Argo CD manifest; raises SetSpecError."""
    if model.is_argocd(doc):
        return model.from_argocd(doc, namespace)
    name = str((doc.get("metadata") or {}).get("name", "?"))
    if doc.get("apiVersion") != model.API_VERSION or doc.get("kind") != model.KIND:
        raise model.SetSpecError(f"{name}: not an ApplicationSet")
    model.parse_spec(doc.get("spec") or {})
    obj = model.new_set(name, namespace, doc.get("spec") or {})
    for key in ("labels", "annotations"):
        if (doc.get("metadata") or {}).get(key):
            obj["metadata"][key] = dict(doc["metadata"][key])
    return obj


@appset.command()
@click.option(
    "-f", "--file", "file", required=True, help="ApplicationSet manifest (Argo CD's too)."
)
@kube_options
@coroutine
async def create(file: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Create ApplicationSets from a manifest file."""
    try:
        manifests = [from_manifest(doc, app_namespace) for doc in read_manifest(file)]
    except model.SetSpecError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_ERROR)
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        for manifest in manifests:
            name = manifest["metadata"]["name"]
            try:
                await kube.create(manifest)
            except Conflict:
                err.print(f"[red]error:[/] ApplicationSet {name} already exists")
                sys.exit(EXIT_ERROR)
            out.print(f"applicationset [bold]{name}[/] created")


def _condition(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    conds = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conds if c.get("type") == ctype), {})


@appset.command("list")
@output_option
@kube_options
@coroutine
async def list_sets(output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """List ApplicationSets with their app count and error, if any."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        api = await kube.resource_for(model.API_VERSION, model.KIND)
        items, _ = await kube.list(api, app_namespace)
    rows = [
        {
            "name": o["metadata"]["name"],
            "applications": (o.get("status") or {}).get("applicationCount", 0),
            "error": _condition(o, "ErrorOccurred").get("message")
            if _condition(o, "ErrorOccurred").get("status") == "True"
            else "",
        }
        for o in sorted(items, key=lambda o: str(o["metadata"]["name"]))
    ]
    if emit(rows, output):
        return
    table = Table("NAME", "APPS", "ERROR")
    for row in rows:
        table.add_row(str(row["name"]), str(row["applications"]), str(row["error"]) or "-")
    out.print(table)


@appset.command()
@click.argument("name")
@output_option
@kube_options
@coroutine
async def get(name: str, output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Show one ApplicationSet: its conditions and generated apps."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        obj = await kube.get_or_none(model.API_VERSION, model.KIND, name, app_namespace)
    if obj is None:
        err.print(f"[red]error:[/] ApplicationSet {name} not found")
        sys.exit(EXIT_NOT_FOUND)
    if emit(obj, output):
        return
    status = obj.get("status") or {}
    for cond in status.get("conditions") or []:
        out.print(f"{cond['type']}: {cond['status']}  {cond.get('message', '')}")
    table = Table("APP", "SYNC", "HEALTH", "NOTE")
    for res in status.get("resources") or []:
        table.add_row(res["name"], res["sync"], res["health"], res.get("message", ""))
    out.print(table)


@appset.command()
@click.argument("name")
@kube_options
@coroutine
async def delete(name: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Delete an ApplicationSet; Kubernetes then deletes the Applications it owns."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        try:
            await kube.get(model.API_VERSION, model.KIND, name, app_namespace)
        except NotFound:
            err.print(f"[red]error:[/] ApplicationSet {name} not found")
            sys.exit(EXIT_NOT_FOUND)
        await kube.delete(model.API_VERSION, model.KIND, name, app_namespace)
    out.print(f"applicationset {name} deleted")
