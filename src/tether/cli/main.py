"""The ``tether`` command: one entry point, one sub-group per concern."""

from __future__ import annotations

import click

from tether.cli import cluster


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tether")
def cli() -> None:
    """Tether: GitOps continuous delivery. Git is the only control plane."""


cli.add_command(cluster.cluster)




if __name__ == "__main__":
    cli()
