"""The ``tether`` command: one entry point, one sub-group per concern."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import sys
from pathlib import Path

import click
import yaml

from tether.cli.context import EXIT_REFUSED, err, helm_binary, kube_options

# Each command group is imported when it runs (or for --help): a long-running
# `tether controller` would otherwise carry every other command's imports.
LAZY_COMMANDS = {
    "cluster": "tether.cli.cluster:cluster",
    "clusters": "tether.cli.clusters:clusters",
    "app": "tether.cli.app:app",
    "registry": "tether.cli.registry:registry",
    "image": "tether.cli.image:image",
    "token": "tether.cli.token:token",
    "project": "tether.cli.project:project",
    "install": "tether.cli.install:install",
    "upgrade": "tether.cli.install:upgrade",
    "uninstall": "tether.cli.uninstall:uninstall",
    "appset": "tether.cli.appset:appset",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = LAZY_COMMANDS.get(cmd_name)
        if where is None:
            return super().get_command(ctx, cmd_name)
        module, name = where.split(":")
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tether")
def cli() -> None:
    """Tether: GitOps continuous delivery. Git is the only control plane."""


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
@click.option(
    "--shards",
    default="1",
    show_default=True,
    type=click.Choice(["1", "auto"]),
    help="auto: the replicas split the Applications (one Lease each, consistent hashing; "
    "implies --leader-elect for the singleton reconcilers). See docs/sharding.md.",
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
    shards: str,
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
            shards=shards,
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
