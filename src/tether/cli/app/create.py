"""``tether app create``: an Application from flags or from manifests (Tether or Argo CD)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import click

from tether.adapters.kube import Conflict
from tether.cli.app.group import app
from tether.cli.context import EXIT_ERROR, coroutine, err, kube_options, out, read_manifest, service
from tether.controller.service import ActionRefused
from tether.engine import application as appmodel


@dataclass(frozen=True)
class CreateFlags:
    """What ``tether app create`` was given, flags or a manifest file."""

    name: str | None
    file: str | None
    repo: str | None
    path: str
    revision: str
    dest_namespace: str | None
    auto_sync: bool
    self_heal: bool
    prune: bool
    create_namespace: bool
    project: str = "default"


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
    flags = CreateFlags(
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
        project,
    )
    try:
        manifests = application_manifests(flags, app_namespace)
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


def application_manifests(flags: CreateFlags, app_namespace: str) -> list[dict[str, Any]]:
    """The Applications to create; raises SpecError naming every unsupported or bad field."""
    manifests: list[dict[str, Any]] = []
    if flags.file:
        for doc in read_manifest(flags.file):
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
        if not (flags.name and flags.repo and flags.dest_namespace):
            raise click.UsageError(
                "NAME, --repo and --dest-namespace are required (or use -f FILE)"
            )
        policy: dict[str, Any] = {}
        if flags.auto_sync:
            policy["automated"] = {"prune": flags.prune, "selfHeal": flags.self_heal}
        if flags.create_namespace:
            policy["syncOptions"] = ["CreateNamespace=true"]
        spec = appmodel.parse_spec(
            {
                "source": {
                    "repoURL": flags.repo,
                    "path": flags.path,
                    "targetRevision": flags.revision,
                },
                "destination": {"namespace": flags.dest_namespace},
                "syncPolicy": policy,
                "project": flags.project,
            }
        )
        manifests.append(appmodel.new_application(flags.name, app_namespace, spec))
    return manifests
