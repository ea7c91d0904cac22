"""``tether token``: API tokens, stored hashed in a Secret, shown once.

``--project P`` binds a token to a project: it then sees and acts only on
the Applications whose ``spec.project`` is P.
"""

from __future__ import annotations

import click

from tether.adapters.kube import KubeClient, NotFound
from tether.api.auth import ROLES, new_token, token_secret_entry
from tether.cli.context import coroutine, kube_options, out
from tether.cli.http import TOKENS_SECRET


@click.group()
def token() -> None:
    """Create and revoke API tokens."""


@token.command()
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="readonly", show_default=True)
@click.option(
    "--project",
    default=None,
    help="Only the Applications of this project (default: every project).",
)
@kube_options
@coroutine
async def create(
    name: str, role: str, project: str | None, kubeconfig: str | None, app_namespace: str
) -> None:
    """Create a token for NAME; it is printed once and stored only as a hash."""
    value = new_token()
    try:
        user, encoded = token_secret_entry(name, role, value, project)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--project") from None
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        try:
            await kube.merge_patch(
                "v1", "Secret", TOKENS_SECRET, {"data": {user: encoded}}, app_namespace
            )
        except NotFound:
            await kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "type": "Opaque",
                    "metadata": {"name": TOKENS_SECRET, "namespace": app_namespace},
                    "data": {user: encoded},
                }
            )
    click.echo(value)
    scope = f"project {project}" if project else "every project"
    out.print(
        f"[dim]token for {name} ({role}, {scope}); it is not stored anywhere in clear[/]",
        highlight=False,
    )


@token.command()
@click.argument("name")
@kube_options
@coroutine
async def revoke(name: str, kubeconfig: str | None, app_namespace: str) -> None:
    """Revoke NAME's token."""
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        await kube.merge_patch("v1", "Secret", TOKENS_SECRET, {"data": {name: None}}, app_namespace)
    out.print(f"token of {name} revoked")
