"""``tether install`` and ``tether upgrade``: Tether's own objects in the cluster."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import yaml

from tether.cli.context import EXIT_REFUSED, coroutine, err, helm_binary, kube_options, out


def _overrides(items: tuple[str, ...]) -> dict[str, Any]:
    """``--set a.b=v`` as {"a.b": v}; a value is read as YAML (``true``, ``3``, ``[a]``)."""
    found: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--set {item!r}: expected KEY=VALUE")
        found[key] = yaml.safe_load(value) if value else ""
    return found


def _print_applied(lines: list[str]) -> None:
    for line in lines:
        out.print(line if line.startswith("pruned ") else f"applied {line}")


values_option = click.option(
    "-f",
    "--values",
    "values_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A YAML file of chart values, as for helm (install: with --controller); repeatable.",
)


def _file_values(paths: tuple[str, ...]) -> dict[str, Any]:
    """The files' values, later files merged over earlier ones."""
    from tether.controller.upgrade import merge_values

    found: dict[str, Any] = {}
    for path in paths:
        doc = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(doc, dict):
            raise click.UsageError(f"{path}: chart values must be a mapping")
        found = merge_values(found, doc)
    return found


set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="A chart value, e.g. --set replicas=3 (install: with --controller); wins over -f.",
)


@click.command()
@click.option(
    "--write-kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write a kubeconfig acting as the controller's ServiceAccount (24 h token).",
)
@click.option(
    "--controller",
    "in_cluster",
    is_flag=True,
    help="Also run the controller in the cluster: the chart charts/tether (Deployment, "
    "Service, PodDisruptionBudget, leader election), applied by server-side apply; objects "
    "of an earlier install that the chart no longer renders are pruned.",
)
@click.option("--image", default=None, help="The controller image reference (with --controller).")
@values_option
@set_option
@kube_options
@coroutine
async def install(
    kubeconfig: str | None,
    app_namespace: str,
    write_kubeconfig: str | None,
    in_cluster: bool,
    image: str | None,
    values_files: tuple[str, ...],
    overrides: tuple[str, ...],
) -> None:
    """Install Tether's CRDs, the app namespace, the default project and least-privilege RBAC."""
    from tether.adapters.kube import KubeClient
    from tether.adapters.render import RenderError
    from tether.controller.install import (
        ChartError,
        controller_kubeconfig,
        controller_values,
        install_controller,
    )
    from tether.controller.install import install as do_install
    from tether.controller.upgrade import UpgradeRefused, check_owner, merge_values, set_value

    if (image or overrides or values_files) and not in_cluster:
        raise click.UsageError("--image, --values and --set go with --controller")
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        if in_cluster:
            values = merge_values(controller_values(), _file_values(values_files))
            if image:
                values["image"] = {"ref": image}
            for key, value in _overrides(overrides).items():
                set_value(values, key, value)
            try:
                await check_owner(kube, app_namespace, "tether")
                lines = await install_controller(
                    kube, app_namespace, values=values, helm_path=helm_binary()
                )
            except UpgradeRefused as exc:
                err.print(f"[red]refused:[/] {exc}")
                sys.exit(EXIT_REFUSED)
            except (ChartError, RenderError) as exc:
                err.print(f"[red]error:[/] {exc}")
                sys.exit(1)
        else:
            lines = await do_install(kube, app_namespace)
        _print_applied(lines)
        if write_kubeconfig:
            config = await controller_kubeconfig(kube, app_namespace)
            target = Path(write_kubeconfig)
            target.write_text(yaml.safe_dump(config, sort_keys=False))
            target.chmod(0o600)
            out.print(f"wrote {target} (acts as ServiceAccount tether-controller)")


@click.command()
@click.option(
    "--image",
    default=None,
    help="The controller image (default: the installed one, its version tag moved to this "
    "version).",
)
@values_option
@set_option
@click.option(
    "--reset-values",
    is_flag=True,
    help="Start from the chart's defaults, not the install's values.",
)
@click.option(
    "--restart", is_flag=True, help="Roll the Pods even when the Pod template did not change."
)
@click.option(
    "--timeout", default=300.0, show_default=True, help="Seconds to wait for the rollout."
)
@kube_options
@coroutine
async def upgrade(
    kubeconfig: str | None,
    app_namespace: str,
    image: str | None,
    values_files: tuple[str, ...],
    overrides: tuple[str, ...],
    reset_values: bool,
    restart: bool,
    timeout: float,
) -> None:
    """Upgrade the in-cluster install to this version: render this version's chart with
    the install's values, apply it, prune what it no longer renders, roll the controller
    (one new Pod at a time: a Ready replica always leads) and report the rollout."""
    from importlib.metadata import version

    from tether.adapters.kube import KubeClient
    from tether.adapters.render import RenderError
    from tether.controller.install import ChartError
    from tether.controller.upgrade import RolloutFailed, UpgradeRefused
    from tether.controller.upgrade import upgrade as do_upgrade

    this = version("tether")
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        try:
            result = await do_upgrade(
                kube,
                app_namespace,
                this,
                image=image,
                files=_file_values(values_files),
                overrides=_overrides(overrides),
                reset_values=reset_values,
                restart_pods=restart,
                helm_path=helm_binary(),
                timeout=timeout,
                progress=lambda line: out.print(f"rollout: {line}"),
            )
        except UpgradeRefused as exc:
            err.print(f"[red]refused:[/] {exc}")
            sys.exit(EXIT_REFUSED)
        except RolloutFailed as exc:
            err.print(f"[red]error:[/] {exc}")
            sys.exit(1)
        except (ChartError, RenderError) as exc:
            err.print(f"[red]error:[/] {exc}")
            sys.exit(1)
    _print_applied(result.applied)
    state = result.rollout
    how = "rolled out" if result.rolled else "no change to the Pods; nothing to roll"
    out.print(
        f"upgraded to {this} ({result.image}): {how}; {state.available} of {state.wanted} "
        f"Pods Ready in {result.seconds:.1f} s: {', '.join(state.pods)}"
    )
    out.print(f"leader (Lease tether-controller): {result.holder or 'none yet'}")
