"""``tether app list|get|diff|history|tree|explain``: what an app is and why."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table
from rich.tree import Tree

from tether.cli.app.group import app, coloured
from tether.cli.context import EXIT_DIFF, coroutine, emit, kube_options, out, output_option, service


@app.command("list")
@output_option
@kube_options
@coroutine
async def list_apps(output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """List Applications with their sync and health status."""
    async with service(kubeconfig, app_namespace) as svc:
        apps = await svc.list_apps()
    if emit(apps, output):
        return
    table = Table("NAME", "SYNC", "HEALTH", "REVISION", "PATH", "DESTINATION")
    for a in apps:
        st = a.get("status") or {}
        spec = a.get("spec") or {}
        table.add_row(
            a["metadata"]["name"],
            coloured(st.get("sync", {}).get("status", "Unknown")),
            coloured(st.get("health", {}).get("status", "Unknown")),
            str(st.get("sync", {}).get("revision", ""))[:8],
            spec.get("source", {}).get("path", ""),
            spec.get("destination", {}).get("namespace", ""),
        )
    out.print(table)


@app.command()
@click.argument("name")
@output_option
@kube_options
@coroutine
async def get(name: str, output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Show one Application: source, sync, health, resources and conditions."""
    async with service(kubeconfig, app_namespace) as svc:
        a = await svc.get_app(name)
    if emit(a, output):
        return
    st = a.get("status") or {}
    src = a["spec"]["source"]
    out.print(
        f"[bold]{name}[/]  {src['repoURL']}  path={src.get('path', '.')}  "
        f"revision={src.get('targetRevision', 'HEAD')}  "
        f"project={a['spec'].get('project', 'default')}"
    )
    out.print(
        f"sync:   {coloured(st.get('sync', {}).get('status', 'Unknown'))} "
        f"at {str(st.get('sync', {}).get('revision', ''))[:12]} "
        f"{st.get('revisionMessage', '')}"
    )
    out.print(
        f"health: {coloured(st.get('health', {}).get('status', 'Unknown'))} "
        f"{st.get('health', {}).get('message', '')}"
    )
    op = st.get("operationState")
    if op:
        out.print(f"last operation: {op.get('phase')} - {op.get('message')}")
    for cond in st.get("conditions") or []:
        out.print(f"[yellow]{cond['type']}[/]: {cond.get('message', '')}")
    table = Table("KIND", "NAMESPACE", "NAME", "SYNC", "HEALTH", "MESSAGE")
    for r in st.get("resources") or []:
        health = r.get("health", {})
        table.add_row(
            r["kind"],
            r.get("namespace", ""),
            r["name"],
            coloured(r.get("status", "")),
            coloured(health.get("status", "")),
            r.get("message") or health.get("message", ""),
        )
    out.print(table)


@app.command()
@click.argument("name")
@click.option("--exit-code", is_flag=True, help="Exit 2 when there are differences.")
@output_option
@kube_options
@coroutine
async def diff(
    name: str, exit_code: bool, output: str, kubeconfig: str | None, app_namespace: str
) -> None:
    """Show what a sync would change (Secret values masked)."""
    async with service(kubeconfig, app_namespace) as svc:
        diffs = await svc.diff(name)
    changed = [d for d in diffs if d["status"] != "Synced"]
    if not emit(changed, output):
        for d in changed:
            out.print(f"[bold]{d['kind']}/{d['name']}[/] ({d['status']})")
            if d.get("message"):
                out.print(f"  {d['message']}")
            click.echo(d["diff"])
        if not changed:
            out.print("no differences: the cluster matches Git")
    if exit_code and changed:
        sys.exit(EXIT_DIFF)


@app.command()
@click.argument("name")
@output_option
@kube_options
@coroutine
async def history(name: str, output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """What was deployed, when, and by whom."""
    async with service(kubeconfig, app_namespace) as svc:
        entries = await svc.history(name)
    if emit(entries, output):
        return
    table = Table("ID", "DEPLOYED AT", "REVISION", "BY", "MESSAGE")
    for h in entries:
        table.add_row(
            str(h["id"]),
            h["deployedAt"],
            h["revision"][:12],
            h.get("initiatedBy", ""),
            h.get("message", ""),
        )
    out.print(table)


@app.command()
@click.argument("name")
@output_option
@kube_options
@coroutine
async def tree(name: str, output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Draw the app's resources and what they own (ReplicaSets, Pods...)."""
    async with service(kubeconfig, app_namespace) as svc:
        data = await svc.tree(name)
    if emit(data, output):
        return
    nodes = {n["id"]: n for n in data["nodes"]}
    children: dict[str, list[str]] = {}
    for edge in data["edges"]:
        children.setdefault(edge["from"], []).append(edge["to"])

    def label(n: dict[str, Any]) -> str:
        health = n.get("health", {}).get("status", "")
        text = f"{n['kind']}/{n['name']} {coloured(health)}"
        if n.get("revision"):
            text += f" rev {n['revision']}"
        if n.get("role") == "history":
            text += " [grey50](rollout history, kept for rollback)[/]"
        msg = n.get("health", {}).get("message", "")
        if msg and health != "Healthy":
            text += f" [dim]{msg}[/]"
        return text

    root = Tree(f"[bold]{name}[/]")

    def add(branch: Tree, node_id: str) -> None:
        for child in children.get(node_id, []):
            add(branch.add(label(nodes[child])), child)

    for n in data["nodes"]:
        if n.get("role") == "managed":
            add(root.add(label(n)), n["id"])
    out.print(root)
    orphans = [n for n in data["nodes"] if n.get("role") == "orphan"]
    if orphans:
        out.print(
            "[yellow]orphans in the namespace (no app, no owner):[/] "
            + ", ".join(f"{n['kind']}/{n['name']}" for n in orphans)
        )


@app.command()
@click.argument("name")
@output_option
@kube_options
@coroutine
async def explain(name: str, output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Why the app is not Healthy: the root-cause chain and the next step."""
    async with service(kubeconfig, app_namespace) as svc:
        data = await svc.explain(name)
    if not emit(data, output):
        click.echo(data["text"])
