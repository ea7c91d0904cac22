"""Bearer-token logins (Docker Hub style) and keeping secrets out of reprs and errors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx

from tether.adapters.registry.check import check_registry
from tether.adapters.registry.objects import pull_secret, with_pull_secret
from tether.adapters.registry.providers import BasicProvider, ProviderError, Token
from tether.adapters.registry.pull import pull_manifest

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def bearer_registry(user: str, password: str) -> httpx.MockTransport:
    """A registry that, like Docker Hub, only accepts tokens from its auth realm."""
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example.com":
            if request.headers.get("authorization") != expected:
                return httpx.Response(401, json={"details": "bad creds"})
            scope = request.url.params.get("scope", "")
            return httpx.Response(200, json={"token": f"tok|{scope}"})
        auth = request.headers.get("authorization", "")
        path = request.url.path
        if path == "/v2/" and auth == "Bearer tok|":
            return httpx.Response(200, json={})
        if path.startswith("/v2/app/manifests/") and auth == "Bearer tok|repository:app:pull":
            return httpx.Response(200, headers={"Docker-Content-Digest": "sha256:abc"}, json={})
        challenge = 'Bearer realm="https://auth.example.com/token",service="reg.example.com"'
        body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        return httpx.Response(401, headers={"WWW-Authenticate": challenge}, json=body)

    return httpx.MockTransport(handler)


def test_check_follows_the_bearer_challenge_to_the_token_realm() -> None:
    transport = bearer_registry("robot", "pw")
    result = check_registry("reg.example.com", "robot", "pw", transport=transport)
    assert result.ok and result.status_code == 200


def test_check_with_wrong_password_against_bearer_registry_fails_without_echoing_it() -> None:
    result = check_registry(
        "reg.example.com", "robot", "nope-pw", transport=bearer_registry("robot", "pw")
    )
    assert not result.ok and result.status_code == 401
    assert "nope-pw" not in result.message


def test_pull_asks_the_realm_for_a_pull_scoped_token() -> None:
    result = pull_manifest(
        None,
        "reg.example.com/app:1",
        {"reg.example.com": ("robot", "pw")},
        transport=bearer_registry("robot", "pw"),
    )
    assert result.ok and result.digest == "sha256:abc" and result.reason == ""


def test_pull_without_matching_credentials_says_no_basic_auth_credentials() -> None:
    result = pull_manifest(
        None,
        "reg.example.com/app:1",
        {"other.example.com": ("robot", "pw")},
        transport=bearer_registry("robot", "pw"),
    )
    assert result.reason == "ErrImagePull"
    assert "authorization failed: no basic auth credentials" in result.message


def test_check_reports_unreachable_registry() -> None:
    result = check_registry("127.0.0.1:1", "u", "secret-value", timeout=2)
    assert not result.ok and result.status_code == 0
    assert "127.0.0.1:1" in result.message and "secret-value" not in result.message


def test_token_repr_masks_the_password() -> None:
    token = Token("AWS", "very-secret-password", expires_at=NOW, issued_at=NOW)
    assert "very-secret-password" not in repr(token)
    assert "very-secret-password" not in str(token)
    assert "AWS" in repr(token)


def test_basic_provider_reads_username_password_or_token() -> None:
    assert BasicProvider({"username": "u", "password": b"p"}).fetch("h").password == "p"
    token = BasicProvider({"token": "ghp_x"}).fetch("ghcr.io")
    assert (token.username, token.password, token.expires_at) == ("token", "ghp_x", None)


def test_basic_provider_names_missing_keys_but_not_values() -> None:
    try:
        BasicProvider({"user": "u", "pass": "hidden-value"}).fetch("h")
    except ProviderError as exc:
        assert exc.reason == "BadSecret"
        assert "pass" in str(exc) and "hidden-value" not in str(exc)
    else:
        raise AssertionError("expected ProviderError")
    assert "hidden-value" not in repr(BasicProvider({"password": "hidden-value"}))


def test_pull_secret_and_service_account_patch() -> None:
    secret = pull_secret("ecr-pull", "finance", "prod-ecr", b'{"auths":{}}')
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert base64.b64decode(secret["data"][".dockerconfigjson"]) == b'{"auths":{}}'
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "imagePullSecrets": [{"name": "x"}]}
    patched = with_pull_secret(sa, "ecr-pull")
    assert patched is not None
    assert patched["imagePullSecrets"] == [{"name": "x"}, {"name": "ecr-pull"}]
    assert with_pull_secret(patched, "ecr-pull") is None
