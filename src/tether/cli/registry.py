"""``tether registry``: which pull credentials Tether keeps fresh, and do they work right now.

When pods sit in ImagePullBackOff the first questions are "which credential is
this, when does it expire, is its refresh failing?" and "does the stored login
still work?". ``list`` answers the first from RegistryCredential status;
``check`` answers the second with a ``GET /v2/`` using the credential stored in
the pull Secret. Both print metadata and registry answers only, never a
credential (the same summaries the API serves, via ``RegistryApi``).
``policy`` shows what the administrator's ConfigMap ``tether-registry-policy``
allows, since a credential refused by it says PolicyRefused in ``list``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.table import Table

from tether.adapters.kube import KubeClient
from tether.cli.context import EXIT_ERROR, EXIT_NOT_FOUND, coroutine, emit, err, kube_options, out
from tether.controller.registry.service import RegistryApi
from tether.engine.objects import parse_time
from tether.engine.registry.spec import format_duration


@click.group()
def registry() -> None:
    """Registry credentials: pull Secrets Tether refreshes before they expire."""


def expires_in(value: object, now: datetime) -> str:
    """'5h59m', 'expired 3m ago', or '-' for credentials without an expiry."""
    when = parse_time(value)
    if when is None:
        return "-"
    seconds = int((when - now).total_seconds())
    if seconds <= 0:
        return f"expired {format_duration(timedelta(seconds=max(-seconds, 1)))} ago"
    return format_duration(timedelta(seconds=seconds))


def status_text(info: dict[str, Any]) -> str:
    if info.get("ready") and not info.get("lastError"):
        return "Ready"
    if info.get("ready"):
        return f"RefreshFailing: {info['lastError']}"
    return f"NotReady: {info.get('lastError') or 'not refreshed yet'}"


@registry.command("list")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@kube_options
@coroutine
async def list_(output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Registry, provider, namespaces, time to expiry and status of every credential."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        creds = await RegistryApi(kube).list()
    now = datetime.now(UTC)
    for info in creds:
        info["expiresIn"] = expires_in(info.get("expiresAt"), now)
        info["status"] = status_text(info)
    if emit(creds, output):
        return
    if not creds:
        out.print("No RegistryCredential resources in this cluster.")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("NAME", "REGISTRY", "PROVIDER", "NAMESPACES", "EXPIRES IN", "STATUS"):
        table.add_column(column, overflow="fold")
    for info in creds:
        namespaces = ", ".join(n["namespace"] for n in info["namespaces"]) or "-"
        colour = "green" if info["status"] == "Ready" else "red"
        table.add_row(
            info["name"],
            info["registry"],
            info["provider"],
            namespaces,
            info["expiresIn"],
            f"[{colour}]{info['status']}[/]",
        )
    out.print(table)


@registry.command()
@click.argument("name", required=False)
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@kube_options
@coroutine
async def check(name: str | None, output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Log in to the registry (GET /v2/) with the stored credential of NAME (default: all)."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        api = RegistryApi(kube)
        names = [name] if name else [c["name"] for c in await api.list()]
        results = []
        for each in names:
            try:
                results.append(await api.check(each))
            except LookupError as exc:
                err.print(f"[red]error:[/] {exc}")
                sys.exit(EXIT_NOT_FOUND)
    failed = any(not r.get("ok") for r in results)
    if not emit(results, output):
        if not results:
            out.print("No RegistryCredential resources in this cluster.")
        for r in results:
            verdict = "[green]ok[/]" if r.get("ok") else "[red]failed[/]"
            where = f" {r['registry']}" if r.get("registry") else ""
            out.print(f"{r['name']}{where}: {verdict}: {r.get('message', '')}", highlight=False)
    if failed:
        sys.exit(EXIT_ERROR)


@registry.command()
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@kube_options
@coroutine
async def policy(output: str, kubeconfig: str | None, app_namespace: str) -> None:
    """What RegistryCredentials may run, read and call (ConfigMap tether-registry-policy)."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        info = await RegistryApi(kube).policy(app_namespace)
    if emit(info, output):
        return
    if info["ignored"]:
        out.print(f"[red]{info['configMap']} is ignored:[/] {info['ignored']}", highlight=False)
    elif not info["exists"]:
        out.print(
            f"{info['configMap']} does not exist: exec providers, endpointURL and "
            "webIdentityTokenFile are refused.",
            highlight=False,
        )
    for key in ("execCommands", "execEnv", "endpointURLs", "tokenFiles"):
        out.print(f"{key}: {', '.join(info[key]) or '(none)'}", highlight=False)
    for problem in info["problems"]:
        err.print(f"[yellow]skipped:[/] {problem}", highlight=False)
