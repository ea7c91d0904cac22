"""Picking repository credentials from labelled Secrets (pure, no cluster needed)."""

from __future__ import annotations

import base64

from tether.engine.credentials import (
    GitCredentials,
    comparable_url,
    credentials_for,
    strip_userinfo,
)


def _secret(name: str, url: str, labelled: bool = True, **data: str) -> dict[str, object]:
    labels = {"tether.dev/secret-type": "repository"} if labelled else {}
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in {"url": url, **data}.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "tether", "labels": labels},
        "data": encoded,
    }


def test_longest_prefix_wins() -> None:
    secrets = [
        _secret("org", "https://git.example.com/finance", username="org", password="p1"),
        _secret("repo", "https://git.example.com/finance/deploy.git", password="p2"),
        _secret("host", "https://git.example.com", password="p0"),
    ]
    creds = credentials_for("https://git.example.com/finance/deploy", secrets)
    assert creds is not None and creds.password == "p2"
    other = credentials_for("https://git.example.com/finance/other.git", secrets)
    assert other == GitCredentials(username="org", password="p1")


def test_prefix_matches_only_at_a_path_boundary() -> None:
    secrets = [_secret("org", "https://git.example.com/fin", password="p")]
    assert credentials_for("https://git.example.com/finance/app", secrets) is None
    assert credentials_for("https://git.example.com/fin/app", secrets) is not None


def test_unlabelled_secrets_are_ignored() -> None:
    secrets = [_secret("x", "https://git.example.com", labelled=False, password="p")]
    assert credentials_for("https://git.example.com/a", secrets) is None


def test_ssh_fields_and_scp_urls() -> None:
    secrets = [
        _secret(
            "ssh",
            "ssh://git@git.example.com/org",
            sshPrivateKey="KEY",
            knownHosts="git.example.com k",
        )
    ]
    creds = credentials_for("git@git.example.com:org/app.git", secrets)
    assert creds is not None and creds.ssh_private_key == "KEY"
    assert "KEY" not in repr(creds)


def test_urls_are_stripped_of_secrets() -> None:
    assert strip_userinfo("https://u:tok@host/x.git") == "https://host/x.git"
    assert comparable_url("HTTPS://u:t@Host.Example.com/Org/Repo.git/") == (
        "https://host.example.com/Org/Repo"
    )
