"""Where registry tokens come from: ECR or a static Secret (exec plugins: ``exec_plugin``).

Each provider turns "I need to pull from host H" into a ``Token`` with an expiry,
so the reconciler can write it into an imagePullSecret and schedule the next
refresh before it lapses. Failures raise ``ProviderError`` whose ``reason`` is a
stable machine word for status/metrics and whose message is safe to store and
show: it never includes a password, a token, or a plugin's stdout.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from tether.engine.registry.spec import ecr_region_of

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, repr=False)
class Token:
    """A registry login. ``expires_at`` is None for credentials that do not expire."""

    username: str
    password: str = field(repr=False)
    expires_at: datetime | None
    issued_at: datetime
    proxy_endpoint: str = ""

    def __repr__(self) -> str:
        expires = self.expires_at.isoformat() if self.expires_at else None
        return (
            f"Token(username={self.username!r}, password='***', expires_at={expires!r}, "
            f"issued_at={self.issued_at.isoformat()!r}, proxy_endpoint={self.proxy_endpoint!r})"
        )

    __str__ = __repr__


class ProviderError(Exception):
    """Fetching a token failed. ``reason`` is one word (AccessDenied, Timeout, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class TokenProvider(Protocol):
    def fetch(self, host: str) -> Token:
        """A token valid for pulling from ``host``."""
        ...


# ---------------------------------------------------------------- ECR

_AWS_ACCESS_DENIED = {
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredTokenException",
    "ExpiredToken",
}


_XML_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]{0,300})</Message>")


class EcrProvider:
    """ECR ``GetAuthorizationToken``: a 12-hour "AWS:<password>" login for the account."""

    def __init__(
        self,
        region: str | None = None,
        *,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        role_arn: str | None = None,
        web_identity_token_file: str | None = None,
        timeout: float = 10.0,
        clock: Clock = utcnow,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self._keys = (access_key_id, secret_access_key, session_token)
        self.role_arn = role_arn
        self.web_identity_token_file = web_identity_token_file
        self.timeout = timeout
        self._clock = clock

    def __repr__(self) -> str:
        return f"EcrProvider(region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    def fetch(self, host: str) -> Token:
        region = self.region or ecr_region_of(host)
        if region is None:
            raise ProviderError(
                "BadConfig", f"no region given and {host!r} is not an ECR registry host"
            )
        issued_at = self._clock()
        try:
            data = self._client(region).get_authorization_token()["authorizationData"][0]
        except ProviderError:
            raise
        except Exception as exc:
            raise _aws_error(exc, f"ECR GetAuthorizationToken in {region}") from None
        try:
            raw = base64.b64decode(data["authorizationToken"], validate=True).decode()
            username, sep, password = raw.partition(":")
            if not sep or not password:
                raise ValueError("no ':' in token")
        except (KeyError, ValueError, binascii.Error, UnicodeDecodeError):
            raise ProviderError(
                "BadResponse", "ECR authorizationToken is not base64 of 'user:password'"
            ) from None
        expires_at = data.get("expiresAt")
        if isinstance(expires_at, datetime) and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        return Token(
            username=username,
            password=password,
            expires_at=expires_at if isinstance(expires_at, datetime) else None,
            issued_at=issued_at,
            proxy_endpoint=str(data.get("proxyEndpoint", "")),
        )

    def _client(self, region: str) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"max_attempts": 2, "mode": "standard"},
        )
        key_id, secret, session = self._keys
        if self.role_arn and self.web_identity_token_file:
            key_id, secret, session = self._assume_role(region, config)
        session_obj = boto3.session.Session(
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=session,
            region_name=region,
        )
        return session_obj.client("ecr", endpoint_url=self.endpoint_url, config=config)

    def _assume_role(self, region: str, config: Any) -> tuple[str, str, str]:
        import boto3

        assert self.web_identity_token_file is not None
        try:
            with open(self.web_identity_token_file, encoding="utf-8") as fh:
                identity_token = fh.read().strip()
        except OSError as exc:
            raise ProviderError(
                "BadConfig",
                f"cannot read web identity token file {self.web_identity_token_file}: "
                f"{exc.strerror}",
            ) from None
        sts = boto3.session.Session(region_name=region).client(
            "sts", endpoint_url=self.endpoint_url, config=config
        )
        try:
            creds = sts.assume_role_with_web_identity(
                RoleArn=self.role_arn,
                RoleSessionName="tether-registry-credentials",
                WebIdentityToken=identity_token,
            )["Credentials"]
        except Exception as exc:
            raise _aws_error(exc, f"STS AssumeRoleWithWebIdentity for {self.role_arn}") from None
        return creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]


def _aws_error(exc: Exception, what: str) -> ProviderError:
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, message = str(err.get("Code", "Unknown")), str(err.get("Message", ""))
        xml_code, xml_message = _XML_CODE.search(message), _XML_MESSAGE.search(message)
        if xml_code:  # an XML error body botocore could not parse for a JSON service
            code, message = xml_code.group(1), xml_message.group(1) if xml_message else ""
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        denied = code in _AWS_ACCESS_DENIED or status in (401, 403)
        reason = "AccessDenied" if denied else "ProviderFailed"
        return ProviderError(reason, f"{what} failed: {code}: {message[:300]}")
    if isinstance(exc, NoCredentialsError):
        return ProviderError("NoCredentials", f"{what}: no AWS credentials found")
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return ProviderError("Timeout", f"{what} timed out")
    if isinstance(exc, EndpointConnectionError):
        return ProviderError(
            "Unreachable", f"{what}: cannot connect to {exc.kwargs.get('endpoint_url')}"
        )
    return ProviderError("ProviderFailed", f"{what} failed: {type(exc).__name__}")


# ---------------------------------------------------------------- basic


class BasicProvider:
    """A static login from Secret data: ``username``+``password``, or ``token``.

    With only ``token`` the username is ``token`` (GHCR, GitLab and Harbor robot
    tokens accept any username); add a ``username`` key to override it.
    """

    def __init__(self, data: Mapping[str, str | bytes], *, clock: Clock = utcnow) -> None:
        self._data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        self._clock = clock

    def __repr__(self) -> str:
        return f"BasicProvider(keys={sorted(self._data)!r})"

    def fetch(self, host: str) -> Token:
        data = self._data
        if data.get("password"):
            if not data.get("username"):
                raise ProviderError("BadSecret", "secret has 'password' but no 'username' key")
            username, password = data["username"], data["password"]
        elif data.get("token"):
            username, password = data.get("username") or "token", data["token"]
        else:
            keys = ", ".join(sorted(data)) or "none"
            raise ProviderError(
                "BadSecret",
                f"secret needs keys username+password or token (has: {keys})",
            )
        return Token(username, password, expires_at=None, issued_at=self._clock())
