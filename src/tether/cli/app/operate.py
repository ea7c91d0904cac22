"""``tether app sync|wait|rollback|resume|delete|delete-resource``: acting on an app."""

from __future__ import annotations

import asyncio
import sys
import time

import click

from tether.cli.app.group import app, coloured, user
from tether.cli.context import (
    EXIT_ERROR,
    coroutine,
    emit,
    err,
    kube_options,
    out,
    output_option,
    service,
)
from tether.controller.service import ActionRefused, SyncRequest


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
            name, SyncRequest(revision, prune, dry_run, resources), initiated_by=user()
        )
    if not emit(state, output):
        colour = "green" if state.get("phase") == "Succeeded" else "red"
        out.print(f"[{colour}]{state.get('phase')}[/]: {state.get('message')}")
    if state.get("phase") == "Running" and output == "table":
        out.print(f"the sync goes on in the controller: `tether app wait {name} --synced`")
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
                out.print(f"{name}: {coloured(s or 'Unknown')} {coloured(h or 'Unknown')}")
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

            sha = await revert_to(svc, name, target, user())
            out.print(f"pushed revert commit {sha[:12]}; the controller syncs it like any commit")
            return
        state = await svc.rollback(name, target, initiated_by=user())
    out.print(f"{state.get('phase')}: {state.get('message')}")
    out.print(f"auto-sync is paused; run `tether app resume {name}` to follow Git again")


@app.command()
@click.argument("name")
@kube_options
@coroutine
async def resume(name: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Resume auto-sync after a rollback."""
    async with service(kubeconfig, app_namespace) as svc:
        await svc.resume(name, initiated_by=user())
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
        message = await svc.delete_resource(name, kind, obj, force=force, initiated_by=user())
    out.print(message)
