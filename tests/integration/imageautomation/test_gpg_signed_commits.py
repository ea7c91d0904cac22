"""Commits signed with an OpenPGP key (Flux's ``git.asc``) verify with ``git verify-commit``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures.gitserver import GitServer
from fixtures.registry import RegistryServer
from fixtures.waiting import await_for
from tether.adapters.git import GitError, GitIdentity
from tether.adapters.git.signing import SigningKey
from tether.adapters.git.writeback import GitWriter
from tether.controller.runtime import Controller
from tether.engine.images.markers import Target, plan_markers

AUTHOR = GitIdentity("Signer", "signer@example.com")
PASSPHRASE = "correct horse battery staple"
DEPLOY = 'image: 127.0.0.1:5000/team/api:1.0.0 # {"$imagepolicy": "tether:api"}\n'
MARKED = 'image: {image}:1.0.0 # {{"$imagepolicy": "tether:{policy}"}}\n'


@dataclass(frozen=True)
class PgpKey:
    armored: str  # the private key, as `gpg --export-secret-keys --armor` writes it
    verifier: dict[str, str]  # environment whose GNUPGHOME trusts only the public key


def _gpg(home: Path, *args: str, stdin: bytes = b"") -> bytes:
    env = {**os.environ, "GNUPGHOME": str(home)}
    done = subprocess.run(
        ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", PASSPHRASE, *args],
        input=stdin,
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout


async def _succeeded(policies: Any, name: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        status = await policies.status(name)
        ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
        if ready.get("reason") in ("GitFailed", "BadSecret", "WriteBackFailed"):
            raise AssertionError(
                f"ImagePolicy {name}: {ready.get('reason')}: {ready.get('message')}"
            )
        return status if ready.get("reason") == "Succeeded" else None

    return await await_for(probe, timeout=60, what=f"ImagePolicy {name} Succeeded")


@pytest.fixture(scope="module")
def pgp_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgpKey]:
    """A passphrase-protected ed25519 key; the verifier's keyring holds only its public half."""
    made = Path(tmp_path_factory.mktemp("gpg"))
    signer, verifier = made / "s", made / "v"
    for home in (signer, verifier):
        home.mkdir(mode=0o700)
    _gpg(signer, "--quick-gen-key", f"{AUTHOR.name} <{AUTHOR.email}>", "ed25519", "sign", "never")
    armored = _gpg(signer, "--armor", "--export-secret-keys").decode()
    public = _gpg(signer, "--armor", "--export")
    fingerprint = next(
        line.split(":")[9]
        for line in _gpg(signer, "--with-colons", "--list-keys").decode().splitlines()
        if line.startswith("fpr:")
    )
    _gpg(verifier, "--import", stdin=public)
    _gpg(verifier, "--import-ownertrust", stdin=f"{fingerprint}:6:\n".encode())
    yield PgpKey(armored, {**os.environ, "GNUPGHOME": str(verifier)})
    for home in (signer, verifier):
        subprocess.run(
            ["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(home)}, check=False
        )


def _verify(work: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "verify-commit", "HEAD"], cwd=work, env=env, capture_output=True, text=True
    )


def test_a_commit_signed_with_an_openpgp_key_verifies(
    git_server: GitServer, tmp_path: Path, pgp_key: PgpKey
) -> None:
    repo = git_server.create_repo({"deploy.yaml": DEPLOY})
    target = Target("tether", "api", "127.0.0.1:5000/team/api", "1.4.0")
    result = GitWriter(tmp_path / "wb").write(
        repo.git_url,
        branch="main",
        plan=lambda files: plan_markers(files, target),
        message="Update api to 1.4.0",
        author=AUTHOR,
        signing_key=SigningKey(pgp_key.armored, PASSPHRASE),
    )
    repo.git("pull", "-q", "origin", "main")
    assert repo.head() == result.sha
    verified = _verify(repo.work, pgp_key.verifier)
    assert verified.returncode == 0, verified.stderr
    assert "Good signature" in verified.stderr
    shown = subprocess.run(
        ["git", "log", "-1", "--format=%G?"],
        cwd=repo.work,
        env=pgp_key.verifier,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "G"


def test_a_wrong_passphrase_fails_the_write_without_naming_the_key_and_pushes_nothing(
    git_server: GitServer, tmp_path: Path, pgp_key: PgpKey
) -> None:
    repo = git_server.create_repo({"deploy.yaml": DEPLOY})
    before = repo.head()
    target = Target("tether", "api", "127.0.0.1:5000/team/api", "1.5.0")
    with pytest.raises(GitError) as caught:
        GitWriter(tmp_path / "wb").write(
            repo.git_url,
            branch="main",
            plan=lambda files: plan_markers(files, target),
            message="Update api to 1.5.0",
            author=AUTHOR,
            signing_key=SigningKey(pgp_key.armored, "not the passphrase"),
        )
    text = str(caught.value)
    assert "passphrase" in text
    assert "not the passphrase" not in text and AUTHOR.email not in text
    assert pgp_key.armored.splitlines()[2] not in text
    assert repo.head() == before


async def test_a_policy_signs_with_the_git_asc_key_of_its_secret(
    git_repo: Any,
    controller: Controller,
    policies: Any,
    registry_server: RegistryServer,
    repository: str,
    push_tag: Callable[[str, str], None],
    pgp_key: PgpKey,
) -> None:
    image = f"{registry_server.host}/{repository}"
    git_repo.commit({"app.yaml": MARKED.format(image=image, policy="pgp-signed")})
    push_tag(repository, "1.6.0")
    secret = await policies.secret({"git.asc": pgp_key.armored, "passphrase": PASSPHRASE})
    await policies.create(
        {
            "image": image,
            "secretRef": {"name": await policies.pull_secret(registry_server)},
            "interval": "1s",
            "policy": {"semver": {"range": "1.x"}},
            "writeBack": {
                "repoURL": git_repo.git_url,
                "commit": {
                    "author": {"name": AUTHOR.name, "email": AUTHOR.email},
                    "signingKeySecretRef": {"name": secret},
                },
            },
        },
        name="pgp-signed",
    )
    status = await _succeeded(policies, "pgp-signed")
    git_repo.git("pull", "-q", "origin", "main")
    assert git_repo.head() == status["lastCommit"]["sha"]
    verified = _verify(git_repo.work, pgp_key.verifier)
    assert verified.returncode == 0, verified.stderr
