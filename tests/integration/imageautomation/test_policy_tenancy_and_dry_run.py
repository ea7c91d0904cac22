"""What a policy may not do, and what a dry run shows: both from the policy's status."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from fixtures.registry import RegistryServer
from fixtures.tether import Projects
from fixtures.waiting import await_for
from tether.cli.main import cli
from tether.controller.runtime import Controller

MARKED = 'image: {image}:1.0.0 # {{"$imagepolicy": "tether:{policy}"}}\n'


async def ready(policies: Any, name: str, reason: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        status = await policies.status(name)
        cond = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
        return status if cond.get("reason") == reason else None

    return await await_for(probe, timeout=30, what=f"ImagePolicy {name} Ready reason {reason}")


async def test_a_repository_outside_the_project_is_refused_and_nothing_is_pushed(
    git_repo: Any,
    controller: Controller,
    policies: Any,
    make_project: Projects,
    registry_server: RegistryServer,
    repository: str,
) -> None:
    project = await make_project.create(sourceRepos=["https://git.example.com/team-a/*"])
    image = f"{registry_server.host}/{repository}"
    git_repo.commit({"app.yaml": MARKED.format(image=image, policy="denied")})
    before = git_repo.head()
    await policies.create(
        {
            "project": project,
            "image": image,
            "secretRef": {"name": await policies.pull_secret(registry_server)},
            "interval": "1s",
            "policy": {"semver": {"range": "*"}},
            "writeBack": {"repoURL": git_repo.git_url},
        },
        name="denied",
    )
    status = await ready(policies, "denied", "ProjectDenied")
    message = status["conditions"][0]["message"]
    assert git_repo.git_url in message and project in message
    assert git_repo.head() == before


async def test_a_missing_pull_secret_is_named_in_status(
    git_repo: Any, controller: Controller, policies: Any, registry_server: RegistryServer
) -> None:
    name = await policies.create(
        {
            "image": f"{registry_server.host}/team/nothing",
            "secretRef": {"name": "no-such-secret"},
            "interval": "1s",
            "policy": {"semver": {"range": "*"}},
            "writeBack": {"repoURL": git_repo.git_url},
        }
    )
    status = await ready(policies, name, "SecretNotFound")
    assert "tether/no-such-secret" in status["conditions"][0]["message"]


async def test_dry_run_puts_the_diff_in_status_and_the_cli_shows_it_and_rescans(
    git_repo: Any,
    controller: Controller,
    policies: Any,
    registry_server: RegistryServer,
    repository: str,
    push_tag: Callable[[str, str], None],
    kubeconfig: str,
) -> None:
    image = f"{registry_server.host}/{repository}"
    git_repo.commit({"app.yaml": MARKED.format(image=image, policy="preview")})
    before = git_repo.head()
    push_tag(repository, "1.3.0")
    await policies.create(
        {
            "image": image,
            "secretRef": {"name": await policies.pull_secret(registry_server)},
            "interval": "300s",
            "policy": {"semver": {"range": "1.x"}},
            "writeBack": {"repoURL": git_repo.git_url, "dryRun": True},
        },
        name="preview",
    )
    status = await ready(policies, "preview", "Succeeded")
    assert f"-image: {image}:1.0.0 #" in status["dryRunDiff"]
    assert f"+image: {image}:1.3.0 #" in status["dryRunDiff"]
    assert git_repo.head() == before

    def tether(*args: str) -> str:
        result = CliRunner().invoke(cli, [*args, "--kubeconfig", kubeconfig])
        assert result.exit_code == 0, result.output
        return result.output

    shown = await asyncio.to_thread(tether, "image", "get", "preview", "--diff")
    assert shown == status["dryRunDiff"]
    listed = json.loads(await asyncio.to_thread(tether, "image", "list", "-o", "json"))
    assert {"name": "preview", "latestTag": "1.3.0", "dryRun": True}.items() <= next(
        row for row in listed if row["name"] == "preview"
    ).items()

    # The interval is 300 s: only `tether image scan` explains a new diff now.
    push_tag(repository, "1.6.0")
    await asyncio.to_thread(tether, "image", "scan", "preview")

    async def rescanned() -> dict[str, Any] | None:
        current = await policies.status("preview")
        return current if current.get("latestTag") == "1.6.0" else None

    status = await await_for(rescanned, timeout=30, what="the requested scan")
    assert f"+image: {image}:1.6.0 #" in status["dryRunDiff"]
    assert git_repo.head() == before


async def test_the_login_of_a_registry_credential_is_used(
    git_repo: Any,
    controller: Controller,
    policies: Any,
    registry_server: RegistryServer,
    repository: str,
    push_tag: Callable[[str, str], None],
) -> None:
    user, password = registry_server.add_user(f"images-{repository.rsplit('-', 1)[-1]}")
    login = await policies.secret({"username": user, "password": password})
    credential = f"images-{repository.rsplit('-', 1)[-1]}"
    await policies.kube.create(
        {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "RegistryCredential",
            "metadata": {"name": credential},
            "spec": {
                "registry": registry_server.host,
                "provider": {"type": "basic", "basic": {"secretRef": {"name": login}}},
                "secretName": f"pull-{credential}",
                "namespaces": {"names": ["tether"]},
            },
        }
    )
    try:
        image = f"{registry_server.host}/{repository}"
        git_repo.commit({"app.yaml": MARKED.format(image=image, policy="via-regcred")})
        push_tag(repository, "1.4.0")
        await policies.create(
            {
                "image": image,
                "registryCredential": credential,
                "interval": "1s",
                "policy": {"semver": {"range": "1.x"}},
                "writeBack": {"repoURL": git_repo.git_url},
            },
            name="via-regcred",
        )
        status = await ready(policies, "via-regcred", "Succeeded")
        assert status["latestTag"] == "1.4.0"
    finally:
        await policies.kube.delete("tether.dev/v1alpha1", "RegistryCredential", credential)


async def test_commits_are_signed_with_the_policy_signing_key(
    git_repo: Any,
    controller: Controller,
    policies: Any,
    registry_server: RegistryServer,
    repository: str,
    push_tag: Callable[[str, str], None],
    tmp_path: Path,
) -> None:
    key = tmp_path / "signing"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"signer@example.com {(tmp_path / 'signing.pub').read_text()}")
    image = f"{registry_server.host}/{repository}"
    git_repo.commit({"app.yaml": MARKED.format(image=image, policy="signed")})
    push_tag(repository, "1.5.0")
    await policies.create(
        {
            "image": image,
            "secretRef": {"name": await policies.pull_secret(registry_server)},
            "interval": "1s",
            "policy": {"semver": {"range": "1.x"}},
            "writeBack": {
                "repoURL": git_repo.git_url,
                "commit": {
                    "author": {"name": "Signer", "email": "signer@example.com"},
                    "signingKeySecretRef": {
                        "name": await policies.secret({"signingKey": key.read_text()})
                    },
                },
            },
        },
        name="signed",
    )
    status = await ready(policies, "signed", "Succeeded")
    git_repo.git("pull", "-q", "origin", "main")
    assert git_repo.head() == status["lastCommit"]["sha"]
    verified = git_repo.git(
        "-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={allowed}",
        "log", "-1", "--format=%G?",
    )  # fmt: skip
    assert verified == "G"
