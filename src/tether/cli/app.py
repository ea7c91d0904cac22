"""``tether app``: create, inspect, sync, roll back and delete Applications."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import click
from rich.table import Table
from rich.tree import Tree

from tether.adapters.kube import Conflict
from tether.cli.context import (
    EXIT_DIFF,
    EXIT_ERROR,
    coroutine,
    emit,
    err,
    kube_options,
    out,
    output_option,
    read_manifest,
    service,
)
from tether.controller.service import ActionRefused, SyncRequest
from tether.engine import application as appmodel

COLOURS = {
    "Healthy": "green",
    "Synced": "green",
    "Progressing": "blue",
    "Degraded": "red",
    "OutOfSync": "yellow",
    "Missing": "yellow",
    "Suspended": "grey50",
    "Unknown": "magenta",
}


def _c(value: str) -> str:
    return f"[{COLOURS.get(value, 'white')}]{value}[/]"


def _user() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


@click.group()
def app() -> None:
    """Manage Applications: Git paths reconciled into a namespace."""


@app.command()
@click.argument("name", required=False)
@click.option(
    "-f", "--file", "file", default=None, help="Application manifest (Tether or Argo CD)."
)
@click.option("--repo", default=None, help="Git repository URL.")
@click.option("--path", default=".", show_default=True, help="Path inside the repository.")
@click.option("--revision", default="HEAD", show_default=True, help="Branch, tag or commit.")
@click.option("--dest-namespace", default=None, help="Namespace to deploy into.")
@click.option("--auto-sync", is_flag=True, help="Sync automatically when Git changes.")
@click.option("--self-heal", is_flag=True, help="Revert changes made in the cluster.")
@click.option("--prune", is_flag=True, help="Delete objects removed from Git (with --auto-sync).")
@click.option("--create-namespace", is_flag=True, help="Create the destination namespace.")
@click.option("--project", default="default", show_default=True, help="Project the app belongs to.")
@kube_options
@coroutine
async def create(
    name: str | None,
    file: str | None,
    repo: str | None,
    path: str,
    revision: str,
    dest_namespace: str | None,
    auto_sync: bool,
    self_heal: bool,
    prune: bool,
    create_namespace: bool,
    project: str,
    kubeconfig: str | None,
    app_namespace: str,
) -> None:
    """Create an Application from flags or from a manifest (-f)."""
    try:
        manifests = _manifests(
            name,
            file,
            repo,
            path,
            revision,
            dest_namespace,
            auto_sync,
            self_heal,
            prune,
            create_namespace,
            app_namespace,
            project,
        )
    except appmodel.SpecError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_ERROR)
    async with service(kubeconfig, app_namespace) as svc:
        for manifest in manifests:
            try:
                await svc.kube.create(manifest)
            except Conflict:
                raise ActionRefused(
                    f"application {manifest['metadata']['name']} already exists"
                ) from None
            out.print(f"application [bold]{manifest['metadata']['name']}[/] created")


def _manifests(
    name: str | None,
    file: str | None,
    repo: str | None,
    path: str,
    revision: str,
    dest_namespace: str | None,
    auto_sync: bool,
    self_heal: bool,
    prune: bool,
    create_namespace: bool,
    app_namespace: str,
    project: str = "default",
) -> list[dict[str, Any]]:
    """The Applications to create; raises SpecError naming every unsupported or bad field."""
    manifests: list[dict[str, Any]] = []
    if file:
        for doc in read_manifest(file):
            if doc.get("apiVersion") == "argoproj.io/v1alpha1":
                is_app = doc.get("kind") == "Application"
                manifests.append(appmodel.from_argocd(doc, app_namespace) if is_app else doc)
            else:
                where = f"{(doc.get('metadata') or {}).get('name', '?')}: spec"
                spec = appmodel.parse_spec(doc.get("spec") or {}, where=where)
                manifests.append(
                    appmodel.new_application(doc["metadata"]["name"], app_namespace, spec)
                )
    else:
        if not (name and repo and dest_namespace):
            raise click.UsageError(
                "NAME, --repo and --dest-namespace are required (or use -f FILE)"
            )
        policy: dict[str, Any] = {}
        if auto_sync:
            policy["automated"] = {"prune": prune, "selfHeal": self_heal}
        if create_namespace:
            policy["syncOptions"] = ["CreateNamespace=true"]
        spec = appmodel.parse_spec(
            {
                "source": {"repoURL": repo, "path": path, "targetRevision": revision},
                "destination": {"namespace": dest_namespace},
                "syncPolicy": policy,
                "project": project,
            }
        )
        manifests.append(appmodel.new_application(name, app_namespace, spec))
    return manifests


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
            _c(st.get("sync", {}).get("status", "Unknown")),
            _c(st.get("health", {}).get("status", "Unknown")),
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
        f"sync:   {_c(st.get('sync', {}).get('status', 'Unknown'))} "
        f"at {str(st.get('sync', {}).get('revision', ''))[:12]} "
        f"{st.get('revisionMessage', '')}"
    )
    out.print(
        f"health: {_c(st.get('health', {}).get('status', 'Unknown'))} "
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
            _c(r.get("status", "")),
            _c(health.get("status", "")),
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
@click.option("--revision", default=None, help="Sync this branch, tag or commit.")
@click.option("--prune/--no-prune", default=None, help="Delete objects removed from Git.")
@click.option("--dry-run", is_flag=True, help="Ask the API server without changing anything.")
@click.option("--resource", "resources", multiple=True, help="KIND/NAME to sync (repeatable).")
@output_option
@kube_options
@coroutine
async def sync(
    name: str,
    revision: str | None,
    prune: bool | None,
    dry_run: bool,
    resources: tuple[str, ...],
    output: str,
    kubeconfig: str | None,
    app_namespace: str,
) -> None:
    """Sync now, and wait for the result."""
    async with service(kubeconfig, app_namespace) as svc:
        state = await svc.sync(
            name, SyncRequest(revision, prune, dry_run, resources), initiated_by=_user()
        )
    if not emit(state, output):
        colour = "green" if state.get("phase") == "Succeeded" else "red"
        out.print(f"[{colour}]{state.get('phase')}[/]: {state.get('message')}")
    if state.get("phase") != "Succeeded":
        sys.exit(EXIT_ERROR)


@app.command()
@click.argument("name")
@click.option("--synced", is_flag=True, help="Wait until Synced.")
@click.option("--healthy", is_flag=True, help="Wait until Healthy.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds.")
@kube_options
@coroutine
async def wait(
    name: str,
    synced: bool,
    healthy: bool,
    timeout: float,
    kubeconfig: str | None,
    app_namespace: str,
) -> None:
    """Wait until the app is Synced and/or Healthy."""
    if not (synced or healthy):
        synced = healthy = True
    deadline = time.monotonic() + timeout
    async with service(kubeconfig, app_namespace) as svc:
        while True:
            st = (await svc.get_app(name)).get("status") or {}
            s = st.get("sync", {}).get("status")
            h = st.get("health", {}).get("status")
            if (not synced or s == "Synced") and (not healthy or h == "Healthy"):
                out.print(f"{name}: {_c(s or 'Unknown')} {_c(h or 'Unknown')}")
                return
            if time.monotonic() > deadline:
                err.print(
                    f"timed out: {name} is {s} and {h}: "
                    f"{st.get('health', {}).get('message', '')} "
                    f"(see `tether app explain {name}`)"
                )
                sys.exit(EXIT_ERROR)
            await asyncio.sleep(0.5)


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
@click.argument("history_id", type=int, required=False)
@click.option(
    "--git", "via_git", is_flag=True, help="Push a revert commit instead (Git stays the truth)."
)
@kube_options
@coroutine
async def rollback(
    name: str, history_id: int | None, via_git: bool, kubeconfig: str | None, app_namespace: str
) -> None:
    """Roll back to a history entry (default: the previous one) and pause auto-sync."""
    async with service(kubeconfig, app_namespace) as svc:
        entries = await svc.history(name)
        if len(entries) < 2 and history_id is None:
            raise ActionRefused(f"{name} has no earlier deployment to roll back to")
        target = history_id if history_id is not None else int(entries[-2]["id"])
        if via_git:
            from tether.cli.gitrevert import revert_to

            sha = await revert_to(svc, name, target, _user())
            out.print(f"pushed revert commit {sha[:12]}; the controller syncs it like any commit")
            return
        state = await svc.rollback(name, target, initiated_by=_user())
    out.print(f"{state.get('phase')}: {state.get('message')}")
    out.print(f"auto-sync is paused; run `tether app resume {name}` to follow Git again")


@app.command()
@click.argument("name")
@kube_options
@coroutine
async def resume(name: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Resume auto-sync after a rollback."""
    async with service(kubeconfig, app_namespace) as svc:
        await svc.resume(name, initiated_by=_user())
    out.print(f"auto-sync of {name} resumed")


@app.command()
@click.argument("name")
@click.option(
    "--cascade",
    is_flag=True,
    help="Also delete every object the app deployed that still carries its label.",
)
@kube_options
@coroutine
async def delete(name: str, cascade: bool, kubeconfig: str | None, app_namespace: str) -> None:
    """Delete an Application (its objects stay unless --cascade)."""
    async with service(kubeconfig, app_namespace) as svc:
        done = await svc.delete_app(name, cascade=cascade)
    removed = len(done.deleted)
    out.print(f"application {name} deleted" + (f" with {removed} objects" if cascade else ""))
    for reason in done.kept.values():
        out.print(f"[yellow]kept:[/] {reason}")


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
        text = f"{n['kind']}/{n['name']} {_c(health)}"
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


@app.command("delete-resource")
@click.argument("name")
@click.argument("target", metavar="KIND/NAME")
@click.option("--force", is_flag=True, help="Delete even when it would be recreated or is history.")
@kube_options
@coroutine
async def delete_resource(
    name: str, target: str, force: bool, kubeconfig: str | None, app_namespace: str
) -> None:
    """Delete one object of the app, refusing the wrong fix unless --force."""
    kind, _, obj = target.partition("/")
    if not obj:
        raise click.UsageError("give the object as KIND/NAME, e.g. ReplicaSet/finance-api-6b8")
    async with service(kubeconfig, app_namespace) as svc:
        message = await svc.delete_resource(name, kind, obj, force=force, initiated_by=_user())
    out.print(message)


__all__ = ["EXIT_ERROR", "app"]
