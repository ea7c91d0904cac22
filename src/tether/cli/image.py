"""``tether image``: image policies, what they chose, and the change a dry run would make.

``list`` and ``get`` read ImagePolicy status (what the controller scanned and
committed); ``get --diff`` prints the diff of a dry-run policy, the change it
would commit; ``scan`` asks the controller to scan a policy now (an
annotation the leader sees, so it works against any replica).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click
from rich.table import Table

from tether.adapters.kube import KubeClient
from tether.cli.context import EXIT_NOT_FOUND, coroutine, emit, err, kube_options, out
from tether.controller.images.automation import SCAN_ANNOTATION
from tether.engine.images import spec as model


@click.group()
def image() -> None:
    """Image policies: new registry tags committed to Git."""


def summary(obj: dict[str, Any]) -> dict[str, Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ready: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    ordering = ", ".join(
        f"{k} {v.get('range', '')}".strip() for k, v in (spec.get("policy") or {}).items()
    )
    return {
        "name": obj["metadata"]["name"],
        "image": spec.get("image", ""),
        "ordering": ordering,
        "repo": (spec.get("writeBack") or {}).get("repoURL", ""),
        "dryRun": bool((spec.get("writeBack") or {}).get("dryRun")),
        "latestTag": status.get("latestTag", ""),
        "latestImage": status.get("latestImage", ""),
        "lastScanTime": status.get("lastScanTime", ""),
        "lastCommit": status.get("lastCommit") or {},
        "pullRequest": status.get("pullRequest") or {},
        "ready": ready.get("status", "Unknown"),
        "reason": ready.get("reason", ""),
        "message": ready.get("message", ""),
        "dryRunDiff": status.get("dryRunDiff", ""),
    }


@image.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@kube_options
@coroutine
async def list_(output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Every policy: image, ordering, latest tag, last commit and status."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        api = await kube.resource_for(model.API_VERSION, model.KIND)
        items, _ = await kube.list(api, app_namespace)
    rows = [summary(o) for o in sorted(items, key=lambda o: str(o["metadata"]["name"]))]
    if emit(rows, output):
        return
    if not rows:
        out.print(f"No ImagePolicy in namespace {app_namespace}.")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("NAME", "IMAGE", "ORDERING", "LATEST", "LAST COMMIT", "STATUS"):
        table.add_column(column, overflow="fold")
    for row in rows:
        commit = row["lastCommit"]
        colour = "green" if row["ready"] == "True" else "red"
        table.add_row(
            row["name"],
            row["image"],
            row["ordering"],
            row["latestTag"] or "-",
            f"{commit.get('sha', '')[:12]} {commit.get('tag', '')}".strip() or "-",
            f"[{colour}]{row['reason'] or row['ready']}[/]",
        )
    out.print(table)


@image.command("get")
@click.argument("name")
@click.option("--diff", "diff_only", is_flag=True, help="Print only the dry-run diff.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@kube_options
@coroutine
async def get(
    name: str, diff_only: bool, output: str, kubeconfig: str | None, app_namespace: str
) -> None:
    """One policy's status; with --diff the change a dry-run policy would commit."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        obj = await kube.get_or_none(model.API_VERSION, model.KIND, name, app_namespace)
    if obj is None:
        err.print(f"[red]error:[/] ImagePolicy {name} not found in {app_namespace}")
        sys.exit(EXIT_NOT_FOUND)
    row = summary(obj)
    if diff_only:
        click.echo(row["dryRunDiff"], nl=False)
        return
    if emit(row, output):
        return
    for key in ("name", "image", "ordering", "repo", "latestTag", "latestImage", "lastScanTime"):
        out.print(f"{key + ':':14} {row[key] or '-'}")
    commit = row["lastCommit"]
    if commit:
        out.print(
            f"{'lastCommit:':14} {commit.get('sha', '')[:12]} {commit.get('tag', '')} "
            f"on {commit.get('branch', '')} at {commit.get('time', '')}"
        )
    pull = row["pullRequest"]
    if pull:
        out.print(f"{'pullRequest:':14} #{pull.get('number', '?')} {pull.get('url', '')}")
    out.print(f"{'status:':14} {row['ready']} {row['reason']}: {row['message']}")
    if row["dryRunDiff"]:
        out.print("dry-run diff:")
        click.echo(row["dryRunDiff"], nl=False)


@image.command("scan")
@click.argument("name")
@kube_options
@coroutine
async def scan(name: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Ask the controller to scan the policy now instead of at its interval."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        await kube.merge_patch(
            model.API_VERSION,
            model.KIND,
            name,
            {"metadata": {"annotations": {SCAN_ANNOTATION: str(time.time())}}},
            app_namespace,
        )
    out.print(f"scan of ImagePolicy {name} requested")
