"""The ``tether`` command: one entry point, one sub-group per concern."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import click
import yaml

from tether.cli import app as app_commands
from tether.cli import appset as appset_commands
from tether.cli import cluster, registry
from tether.cli import project as project_commands
from tether.cli import token as token_commands
from tether.cli.context import EXIT_REFUSED, coroutine, err, helm_binary, kube_options, out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tether")
def cli() -> None:
    """Tether: GitOps continuous delivery. Git is the only control plane."""


cli.add_command(cluster.cluster)
cli.add_command(app_commands.app)
cli.add_command(registry.registry)
cli.add_command(token_commands.token)
cli.add_command(project_commands.project)
cli.add_command(appset_commands.appset)


@cli.command()
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
    "Service, PodDisruptionBudget, leader election), applied by server-side apply.",
)
@click.option("--image", default=None, help="The controller image reference (with --controller).")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="A chart value (with --controller), e.g. --set replicas=3; repeatable.",
)
@kube_options
@coroutine
async def install(
    kubeconfig: str | None,
    app_namespace: str,
    write_kubeconfig: str | None,
    in_cluster: bool,
    image: str | None,
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

    if (image or overrides) and not in_cluster:
        raise click.UsageError("--image and --set go with --controller")
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        if in_cluster:
            values = controller_values(image)
            for item in overrides:
                key, sep, value = item.partition("=")
                if not sep or not key:
                    raise click.UsageError(f"--set {item!r}: expected KEY=VALUE")
                _set_value(values, key, yaml.safe_load(value) if value else "")
            try:
                lines = await install_controller(
                    kube, app_namespace, values=values, helm_path=helm_binary()
                )
            except (ChartError, RenderError) as exc:
                err.print(f"[red]error:[/] {exc}")
                sys.exit(1)
        else:
            lines = await do_install(kube, app_namespace)
        for line in lines:
            out.print(f"applied {line}")
        if write_kubeconfig:
            config = await controller_kubeconfig(kube, app_namespace)
            target = Path(write_kubeconfig)
            target.write_text(yaml.safe_dump(config, sort_keys=False))
            target.chmod(0o600)
            out.print(f"wrote {target} (acts as ServiceAccount tether-controller)")


def _set_value(values: dict[str, object], dotted: str, value: object) -> None:
    """``a.b.c=v`` as nested chart values."""
    *parents, last = dotted.split(".")
    node = values
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[last] = value


@cli.command()
@click.option(
    "--listen", default=None, help="Serve the API and UI on HOST:PORT (e.g. 127.0.0.1:8080)."
)
@click.option(
    "--poll", "poll_interval", default=60.0, show_default=True, help="Git poll interval (s)."
)
@click.option("--workers", default=8, show_default=True, help="Apps reconciled at once.")
@click.option(
    "--registry-credentials/--no-registry-credentials",
    default=True,
    show_default=True,
    help="Keep RegistryCredential pull Secrets fresh (run it in one controller only).",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Serve HTTPS with this PEM certificate (chain); needs --tls-key.",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The PEM private key of --tls-cert.",
)
@click.option(
    "--api-docs/--no-api-docs",
    default=False,
    show_default=True,
    help="Serve /openapi.json (to callers with a token).",
)
@click.option(
    "--allow-cluster-admin",
    is_flag=True,
    help="Run even with cluster-admin rights (refused by default: see docs/security.md).",
)
@click.option(
    "--allow-local-repos",
    is_flag=True,
    help="Accept local paths and file:// as repoURL (a single-user machine only).",
)
@click.option(
    "--leader-elect/--no-leader-elect",
    default=False,
    show_default=True,
    help="Reconcile only while holding the Lease tether-controller (run several replicas).",
)
@click.option("-v", "--verbose", is_flag=True)
@kube_options
def controller(
    listen: str | None,
    poll_interval: float,
    workers: int,
    registry_credentials: bool,
    tls_cert: str | None,
    tls_key: str | None,
    api_docs: bool,
    allow_cluster_admin: bool,
    allow_local_repos: bool,
    leader_elect: bool,
    verbose: bool,
    kubeconfig: str | None,
    app_namespace: str,
) -> None:
    """Run the reconcilers (and, with --listen, the API and web UI) in the foreground."""
    from tether.cli.http import HttpOptions
    from tether.cli.serve import surface_for
    from tether.controller.server import ClusterAdminRefused, run

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    http_options = HttpOptions(tls_cert=tls_cert, tls_key=tls_key, api_docs=api_docs)

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(
            kubeconfig=kubeconfig,
            namespace=app_namespace,
            poll_interval=poll_interval,
            workers=workers,
            helm_path=helm_binary(),
            stop=stop,
            surface=surface_for(listen, http_options) if listen else None,
            registry_credentials=registry_credentials,
            allow_cluster_admin=allow_cluster_admin,
            allow_local_repos=allow_local_repos,
            leader_elect=leader_elect,
        )

    try:
        asyncio.run(main())
    except ClusterAdminRefused as exc:
        err.print(f"[red]refused:[/] {exc}")
        sys.exit(EXIT_REFUSED)


@cli.command()
@click.argument("source")
@click.option("--path", default=".", show_default=True, help="Path inside the repository.")
@click.option("--revision", default=None, help="Commit, branch or tag (repositories only).")
@click.option("--namespace", default="default", show_default=True)
def render(source: str, path: str, revision: str | None, namespace: str) -> None:
    """Print the rendered YAML of a directory or repository path, offline."""
    from tether.adapters import git
    from tether.adapters.render import RenderError
    from tether.adapters.render import render as do_render
    from tether.cli.context import make_sources

    try:
        if Path(source).is_dir() and revision is None and not (Path(source) / ".git").exists():
            objects = do_render(
                str(source), {"path": path}, namespace=namespace, helm_path=helm_binary()
            )
        else:
            repos = make_sources().repos
            url = str(Path(source).resolve()) if Path(source).exists() else source
            sha = repos.resolve(url, revision or "HEAD")
            objects = do_render(
                repos.read_tree(url, sha, ""),
                {"path": path},
                namespace=namespace,
                helm_path=helm_binary(),
            )
    except (RenderError, git.GitError) as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(1)
    click.echo(yaml.safe_dump_all(objects, sort_keys=False), nl=False)


if __name__ == "__main__":
    cli()
