"""Registry credentials: the spec and the timing rules, with no I/O.

Short-lived pull tokens (ECR's last 12 hours) expire inside imagePullSecrets and
the next scale-out fails with ImagePullBackOff. Tether refreshes them from inside
the cluster. Everything that decides *what* to write and *when* lives here as
pure functions of their inputs (``now`` is always passed in) so the reconciler
stays a thin loop and the rules can be tested without a cluster or a clock.

The status lives in ``tether.engine.registry.status``; what an administrator
allows a RegistryCredential to run, read or call lives in
``tether.engine.registry.policy``.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

DOCKER_HUB = "docker.io"
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"

# ---------------------------------------------------------------- durations

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(value: object) -> timedelta:
    """Parse a Go-style duration ("90s", "12h", "1h30m", "0.5h") into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError(f"duration must be a string like '1h30m', got {type(value).__name__}")
    text = value.strip()
    if text == "0":
        return timedelta(0)
    pos, seconds = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {value!r}: use units h, m, s, ms as in '1h30m'")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Render a timedelta the way it is written in specs ("1h30m", "90s" -> "1m30s")."""
    total = int(value.total_seconds())
    if total == 0:
        return "0s"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return "".join(parts)


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]

# ---------------------------------------------------------------- hosts and patterns

_LABEL_PATTERN = re.compile(r"^[a-z0-9*?]([a-z0-9*?-]*[a-z0-9*?])?$")
_ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_ECR_HOST_PATTERN = re.compile(
    r"^[\d*?]+\.dkr\.ecr(?:-fips)?\.[a-z0-9*?-]+\.amazonaws\.com(?:\.cn)?$"
)


def validate_registry_pattern(pattern: str) -> str:
    """Return the normalised pattern or raise ValueError saying what is wrong.

    A pattern is ``host[:port][/path]`` where each dot-separated host label may use
    ``*`` and ``?`` globs, as kubelet credential providers match images.
    """
    text = pattern.strip().lower()
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            raise ValueError(f"registry {pattern!r}: leave out the scheme {scheme!r}")
    if not text:
        raise ValueError("registry must not be empty")
    hostport, _, path = text.partition("/")
    host, sep, port = hostport.partition(":")
    if sep and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"registry {pattern!r}: port {port!r} is not a number in 1-65535")
    labels = host.split(".")
    for label in labels:
        if not _LABEL_PATTERN.match(label):
            raise ValueError(
                f"registry {pattern!r}: host label {label!r} is invalid; labels hold "
                "letters, digits, '-' and the globs '*' and '?'"
            )
    if path and not re.match(r"^[a-z0-9._/-]+$", path.rstrip("/")):
        raise ValueError(f"registry {pattern!r}: path {path!r} has invalid characters")
    return text.rstrip("/")


def is_glob(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def registry_matches(pattern: str, target: str) -> bool:
    """Match a registry pattern against a host or image path the way kubelet does.

    Host labels must match one to one (``*`` never spans a dot), ports must be
    equal and a pattern path must be a prefix of the target path.
    """
    pat_hostport, _, pat_path = pattern.lower().partition("/")
    tgt_hostport, _, tgt_path = target.lower().partition("/")
    pat_host, _, pat_port = pat_hostport.partition(":")
    tgt_host, _, tgt_port = tgt_hostport.partition(":")
    if pat_port != tgt_port:
        return False
    if pat_path and not tgt_path.startswith(pat_path):
        return False
    pat_labels, tgt_labels = pat_host.split("."), tgt_host.split(".")
    if len(pat_labels) != len(tgt_labels):
        return False
    return all(fnmatch.fnmatchcase(t, p) for p, t in zip(pat_labels, tgt_labels, strict=True))


class ImageRef(BaseModel):
    """An image reference split into registry host, repository, tag and digest."""

    model_config = ConfigDict(frozen=True)
    host: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def reference(self) -> str:
        """What to ask the registry's manifest endpoint for: the digest wins over the tag."""
        return self.digest or self.tag or "latest"


def parse_image(image: str) -> ImageRef:
    """Split an image the way the container runtime does (docker.io and library/ defaults)."""
    rest, _, digest = image.strip().partition("@")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, path = first.lower(), remainder
    else:
        host, path = DOCKER_HUB, rest
    name, colon, tag = path.rpartition(":")
    if not colon or "/" in tag:
        name, tag = path, ""
    if host == DOCKER_HUB and "/" not in name:
        name = f"library/{name}"
    if not name:
        raise ValueError(f"image {image!r} has no repository name")
    return ImageRef(
        host=host, repository=name, tag=tag or ("" if digest else "latest"), digest=digest
    )


def host_of_image(image: str) -> str:
    """The registry host (with port) an image is pulled from; docker.io by default."""
    return parse_image(image).host


def ecr_region_of(host: str) -> str | None:
    """The AWS region in ``<account>.dkr.ecr.<region>.amazonaws.com``, None otherwise."""
    match = _ECR_HOST.match(host.lower())
    return match.group(2) if match else None


def dockerconfigjson(host: str, username: str, password: str) -> bytes:
    """The ``.dockerconfigjson`` payload kubelet reads from an imagePullSecret."""
    key = DOCKER_HUB_CONFIG_KEY if host in (DOCKER_HUB, "index.docker.io") else host
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    entry = {"username": username, "password": password, "auth": auth}
    return json.dumps({"auths": {key: entry}}, sort_keys=True, separators=(",", ":")).encode()


def redact(text: str, secrets: list[str]) -> str:
    """Replace every secret (and its base64 form) in ``text`` before it is stored or logged."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
        text = text.replace(base64.b64encode(secret.encode()).decode(), "<redacted>")
    return text


# ---------------------------------------------------------------- spec


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class SecretRef(_Model):
    """A Secret in the controller's namespace (``namespace`` may be left out, or name it)."""

    name: str = Field(min_length=1)
    namespace: str | None = None


class EcrProvider(_Model):
    region: str | None = None
    endpoint_url: str | None = Field(default=None, alias="endpointURL")
    credentials_secret_ref: SecretRef | None = None
    role_arn: str | None = Field(default=None, alias="roleARN")
    web_identity_token_file: str | None = None


class BasicProvider(_Model):
    secret_ref: SecretRef


MAX_EXEC_TIMEOUT = timedelta(seconds=60)


class EnvVar(_Model):
    name: str = Field(min_length=1)
    value: str = ""


class ExecProvider(_Model):
    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)
    registry_host: str | None = None
    timeout: Duration = Field(default=timedelta(seconds=10), le=MAX_EXEC_TIMEOUT)
    default_cache_duration: Duration = timedelta(minutes=5)


class Provider(_Model):
    type: Literal["ecr", "basic", "exec"]
    ecr: EcrProvider | None = None
    basic: BasicProvider | None = None
    exec_: ExecProvider | None = Field(default=None, alias="exec")

    @model_validator(mode="after")
    def _one_block(self) -> Provider:
        blocks = {"ecr": self.ecr, "basic": self.basic, "exec": self.exec_}
        if blocks[self.type] is None:
            if self.type == "ecr":
                self.ecr = EcrProvider()
            else:
                raise ValueError(
                    f"provider.type is {self.type!r} but provider.{self.type} is missing"
                )
        extra = [name for name, block in blocks.items() if block is not None and name != self.type]
        if extra:
            raise ValueError(f"provider.type is {self.type!r}; remove provider.{', '.join(extra)}")
        return self


class LabelSelector(_Model):
    match_labels: dict[str, str] = Field(default_factory=dict)


class Namespaces(_Model):
    names: list[str] = Field(default_factory=list)
    selector: LabelSelector | None = None
    from_applications: bool = False


class Refresh(_Model):
    fraction: float = Field(default=0.5, gt=0, lt=1)
    min_interval: Duration = timedelta(minutes=1)
    retry_backoff: Duration = timedelta(seconds=10)
    max_retry_backoff: Duration = timedelta(minutes=10)


class RegistryCredentialSpec(_Model):
    registry: str
    provider: Provider
    secret_name: str = Field(min_length=1, max_length=253)
    namespaces: Namespaces
    service_accounts: list[str] = Field(default_factory=list)
    refresh: Refresh = Field(default_factory=Refresh)
    warn_before: Duration = timedelta(hours=1)

    @field_validator("registry")
    @classmethod
    def _valid_registry(cls, value: str) -> str:
        return validate_registry_pattern(value)

    @model_validator(mode="after")
    def _consistent(self) -> RegistryCredentialSpec:
        ns = self.namespaces
        if not (ns.names or ns.selector or ns.from_applications):
            raise ValueError("namespaces: set names, selector or fromApplications")
        ecr = self.provider.ecr
        host = self.registry.split("/")[0]
        if ecr is not None and not ecr.region and not _ECR_HOST_PATTERN.match(host):
            raise ValueError(
                f"provider.ecr.region is required: registry {self.registry!r} is not of the "
                "form <account>.dkr.ecr.<region>.amazonaws.com"
            )
        if self.provider.type == "exec" and is_glob(self.registry):
            exec_spec = self.provider.exec_
            if exec_spec is not None and not exec_spec.registry_host:
                raise ValueError(
                    "provider.exec.registryHost is required when registry is a pattern"
                )
        return self

    def ecr_region(self, host: str | None = None) -> str | None:
        """The configured region, else the one in ``host`` (or in the registry if concrete)."""
        ecr = self.provider.ecr
        if ecr is not None and ecr.region:
            return ecr.region
        return ecr_region_of(host or self.registry.split("/")[0])


def namespace_selected(
    spec: Namespaces, name: str, ns_labels: dict[str, str], app_namespaces: set[str]
) -> bool:
    """Whether a namespace receives the pull secret."""
    if name in spec.names or (spec.from_applications and name in app_namespaces):
        return True
    selector = spec.selector
    return selector is not None and all(
        ns_labels.get(k) == v for k, v in selector.match_labels.items()
    )


# ---------------------------------------------------------------- timing


def next_refresh(
    issued_at: datetime,
    expires_at: datetime | None,
    fraction: float,
    now: datetime,
    *,
    min_interval: timedelta = timedelta(minutes=1),
    resync: timedelta = timedelta(hours=1),
) -> datetime:
    """When to fetch a new token: ``fraction`` of the way through its lifetime.

    Credentials without an expiry (basic) are re-read every ``resync``. The result is
    never sooner than ``now + min_interval`` so a provider returning already-expired
    or zero-lifetime tokens cannot drive a hot loop.
    """
    if expires_at is None:
        target = issued_at + resync
    else:
        target = issued_at + (expires_at - issued_at) * fraction
    return max(target, now + min_interval)


def backoff_delay(attempt: int, base: timedelta, cap: timedelta, jitter_rand: float) -> timedelta:
    """Delay before retry number ``attempt`` (1 = first retry) after failed refreshes.

    Exponential from ``base``, capped at ``cap``, with "equal jitter": the delay lies in
    [d/2, d) where ``jitter_rand`` in [0, 1) picks the point, so many credentials that
    failed together do not retry in lockstep. The random number is passed in to keep
    this function pure.
    """
    if attempt <= 0:
        return timedelta(0)
    raw = min(cap.total_seconds(), base.total_seconds() * 2 ** min(attempt - 1, 62))
    jitter = min(max(jitter_rand, 0.0), 1.0)
    return timedelta(seconds=raw / 2 + raw / 2 * jitter)


def should_warn(
    expires_at: datetime | None, now: datetime, warn_before: timedelta, last_error: str | None
) -> bool:
    """Warn when the credential in a namespace is about to lapse and will not be renewed.

    A healthy refresh happens long before ``warn_before`` (at ``fraction`` of the
    lifetime), so only a failing refresh or an already expired credential warrants a
    warning; a fresh token that is merely short-lived does not.
    """
    if expires_at is None:
        return False
    if expires_at <= now:
        return True
    return last_error is not None and expires_at - now <= warn_before
