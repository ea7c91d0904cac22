"""Every transport for real: local paths, git://, smart HTTP with basic auth, SSH."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from tether.adapters.git import GitCredentials, GitError, GitIdentity, HostKeyError, RepoCache
from tether.adapters.git.known_hosts import verify_host_key


def _creds(git_server, password: str | None = None) -> GitCredentials:
    return GitCredentials(
        username=git_server.http_user, password=password or git_server.http_password
    )


@pytest.mark.parametrize("kind", ["local_path", "file_url", "git_url"])
def test_unauthenticated_transports(git_repo, repo_cache: RepoCache, kind: str) -> None:
    url = getattr(git_repo, kind)
    sha = repo_cache.resolve(url, "main")
    assert sha == git_repo.head()
    assert repo_cache.read_tree(url, sha, "") == {"README.md": b"# test repository\n"}


def test_http_with_basic_auth(git_server, git_repo, repo_cache: RepoCache) -> None:
    sha = repo_cache.resolve(git_repo.http_url, "main", _creds(git_server))
    assert sha == git_repo.head()


def test_http_token_in_url_works_and_is_never_printed(git_server, git_repo, repo_cache) -> None:
    url = git_repo.http_url.replace("http://", f"http://tether:{git_server.http_password}@")
    assert repo_cache.resolve(url, "main") == git_repo.head()
    bad = git_repo.http_url.replace("http://", "http://tether:wrong-token-123@")
    with pytest.raises(GitError) as info:
        repo_cache.resolve(bad, "main")
    assert "wrong-token-123" not in str(info.value)
    assert "401 Unauthorized" in str(info.value)


def test_http_wrong_password_is_401_without_the_password(git_server, git_repo, repo_cache) -> None:
    with pytest.raises(GitError) as info:
        repo_cache.resolve(git_repo.http_url, "main", _creds(git_server, "not-the-password"))
    message = str(info.value)
    assert message.startswith(f"cannot reach {git_repo.http_url}: 401 Unauthorized")
    assert "not-the-password" not in message


def test_http_without_credentials_is_401(git_repo, repo_cache: RepoCache) -> None:
    with pytest.raises(GitError, match="401 Unauthorized"):
        repo_cache.resolve(git_repo.http_url, "main")


def test_unreachable_server_is_named(repo_cache: RepoCache) -> None:
    from fixtures.gitserver import free_port

    url = f"http://127.0.0.1:{free_port()}/nothing.git"
    with pytest.raises(GitError, match=rf"cannot reach {url}"):
        repo_cache.resolve(url, "main")


def test_revert_pushes_over_authenticated_http(git_server, git_repo, repo_cache) -> None:
    bad = git_repo.commit({"app.yaml": "broken: true\n"}, message="break it")
    creds = _creds(git_server)
    repo_cache.resolve(git_repo.http_url, "main", creds)
    new = repo_cache.revert(
        git_repo.http_url, bad, GitIdentity("T", "t@example.com"), "main", creds
    )
    assert git_repo.head() == new


def test_ssh_with_known_host_key(ssh_server, git_repo, repo_cache: RepoCache) -> None:
    creds = GitCredentials(
        username=ssh_server.user,
        ssh_private_key=ssh_server.client_private_key,
        known_hosts=ssh_server.known_hosts,
    )
    url = git_repo.ssh_url(ssh_server)
    sha = repo_cache.resolve(url, "main", creds)
    assert sha == git_repo.head()
    assert "README.md" in repo_cache.read_tree(url, sha, "")


@pytest.mark.parametrize(
    ("known_hosts", "reason"),
    [
        ("wrong", "does not match known_hosts"),
        ("other-host", "is not in known_hosts"),
        (None, "no known_hosts given"),
    ],
)
def test_ssh_unknown_host_key_is_refused(
    ssh_server, git_repo, repo_cache: RepoCache, known_hosts: str | None, reason: str
) -> None:
    content = {
        "wrong": ssh_server.wrong_known_hosts,
        "other-host": ssh_server.known_hosts.replace("[127.0.0.1]", "[10.9.9.9]"),
        None: None,
    }[known_hosts]
    creds = GitCredentials(
        username=ssh_server.user,
        ssh_private_key=ssh_server.client_private_key,
        known_hosts=content,
    )
    with pytest.raises(HostKeyError, match=reason) as info:
        repo_cache.resolve(git_repo.ssh_url(ssh_server), "main", creds)
    assert "PRIVATE KEY" not in str(info.value)


def _hashed(name: str, salt: bytes) -> str:
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def test_known_hosts_matching_rules() -> None:
    blob = b"\x00\x00\x00\x0bssh-ed25519key-bytes"
    key = base64.b64encode(blob).decode()
    sha1 = hashlib.sha1(blob).digest()
    hashed = f"{_hashed('[git.example.com]:2222', b'salt-salt-salt-salt!')} ssh-ed25519 {key}\n"
    assert verify_host_key(hashed, "git.example.com", 2222, blob, None) is None
    assert verify_host_key(hashed, "git.example.com", 22, blob, None) is not None
    plain = f"other,git.example.com ssh-ed25519 {key}\n"
    assert verify_host_key(plain, "git.example.com", 22, None, sha1) is None
    assert (
        verify_host_key(f"*.example.com ssh-ed25519 {key}\n", "git.example.com", None, blob, None)
        is None
    )
    revoked = f"@revoked git.example.com ssh-ed25519 {key}\n"
    assert "revoked" in (verify_host_key(revoked, "git.example.com", 22, blob, None) or "")
    assert verify_host_key(plain, "git.example.com", 22, None, None) is not None
