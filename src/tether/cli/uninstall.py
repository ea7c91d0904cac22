"""``tether uninstall``: remove what ``tether install`` made (see controller.uninstall)."""

from __future__ import annotations

import sys

import click

from tether.cli.context import EXIT_ERROR, EXIT_REFUSED, coroutine, err, kube_options, out


@click.command()
@click.option("--yes", "-y", is_flag=True, help="Remove without asking.")
@click.option(
    "--crds",
    "with_crds",
    is_flag=True,
    help="Also delete Tether's CRDs, and with them every Application, ApplicationSet, "
    "Project, ImagePolicy and RegistryCredential of the cluster.",
)
@click.option(
    "--timeout",
    default=60.0,
    show_default=True,
    help="Seconds to wait for the controller's Pods to stop.",
)
@kube_options
@coroutine
async def uninstall(
    kubeconfig: str | None, app_namespace: str, yes: bool, with_crds: bool, timeout: float
) -> None:
    """Remove what `tether install` made in the app namespace: the controller, its
    Service, RBAC, Leases and kept values. Applications, Projects, the namespace and
    the CRDs stay (the CRDs go with --crds)."""
    from tether.adapters.kube import KubeClient
    from tether.controller import uninstall as remove
    from tether.controller.upgrade import UpgradeRefused

    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        try:
            found = await remove.plan(kube, app_namespace, with_crds=with_crds)
        except UpgradeRefused as exc:
            err.print(f"[red]refused:[/] {exc}")
            sys.exit(EXIT_REFUSED)
        for line in found.kept:
            out.print(f"kept {line}")
        if not found.remove:
            out.print(f"nothing of a tether install in namespace {app_namespace}")
            return
        out.print(f"to remove from namespace {app_namespace} (and cluster-wide):")
        for target in found.remove:
            out.print(f"  {target}")
        if not yes and not (
            sys.stdin.isatty() and click.confirm("Remove these objects?", default=False)
        ):
            err.print("nothing removed (pass --yes to remove without asking)")
            sys.exit(EXIT_ERROR)
        for line in await remove.uninstall(kube, found, wait=timeout):
            out.print(f"removed {line}" if not line.startswith("(") else line)
        out.print("Applications, Projects and the namespace are kept")
