"""The ImagePolicy resource: one object holds the repository, the filter, the ordering
and where the chosen tag is written back in Git.

Flux splits this over ImageRepository, ImagePolicy and ImageUpdateAutomation;
one object is easier to reason about for tenancy (one project, one namespace,
one set of Secrets) and a repository scanned by several policies is still
listed once per interval, because tag listings are cached by repository.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from tether.engine import versions
from tether.engine.images import pullrequest
from tether.engine.registry.spec import parse_duration

GROUP = "tether.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ImagePolicy"
PLURAL = "imagepolicies"
DEFAULT_INTERVAL = timedelta(minutes=1)
DEFAULT_MESSAGE = "Update {image} to {tag}\n\nImagePolicy {namespace}/{policy}: {old_tag} -> {tag}"
DEFAULT_AUTHOR_NAME = "Tether Image Automation"
DEFAULT_AUTHOR_EMAIL = "tether@localhost"
MAX_PATTERN = 500

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class SpecError(ValueError):
    """The spec is invalid; the message names the field."""


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class LocalRef(_Model):
    """A Secret in the policy's own namespace (no namespace field, on purpose)."""

    name: str = Field(min_length=1, max_length=253)


class Ecr(_Model):
    """List tags with the ECR API (DescribeImages), which also gives push times."""

    region: str | None = None
    endpoint_url: str | None = Field(default=None, alias="endpointURL")
    registry_id: str | None = Field(default=None, alias="registryId")
    credentials_secret_ref: LocalRef | None = None


class FilterTags(_Model):
    """Flux's filter: keep tags matching ``pattern``; order by ``extract`` (``$1``, ``$name``)."""

    pattern: str = Field(max_length=MAX_PATTERN)
    extract: str = ""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class SemverOrder(_Model):
    range: str

    @field_validator("range")
    @classmethod
    def _parses(cls, value: str) -> str:
        versions.parse_constraint(value)
        return value


class Direction(_Model):
    order: Literal["asc", "desc"] = "asc"


class Ordering(_Model):
    """Exactly one way of ordering tags; the newest is the last in ascending order."""

    semver: SemverOrder | None = None
    numerical: Direction | None = None
    alphabetical: Direction | None = None
    push_time: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> Ordering:
        chosen = [
            k
            for k in ("semver", "numerical", "alphabetical", "push_time")
            if getattr(self, k) is not None
        ]
        if len(chosen) != 1:
            raise ValueError("exactly one of semver, numerical, alphabetical, pushTime must be set")
        return self

    @property
    def kind(self) -> str:
        for name in ("semver", "numerical", "alphabetical"):
            if getattr(self, name) is not None:
                return name
        return "pushTime"


class Author(_Model):
    name: str = DEFAULT_AUTHOR_NAME
    email: str = DEFAULT_AUTHOR_EMAIL


class Commit(_Model):
    author: Author = Field(default_factory=Author)
    message_template: str = Field(default=DEFAULT_MESSAGE, max_length=4000)
    # This Secret's key signs every commit: ``signingKey`` (OpenSSH or armored OpenPGP)
    # or Flux's ``git.asc`` (armored OpenPGP), with ``passphrase`` for a protected OpenPGP key.
    signing_key_secret_ref: LocalRef | None = None


class KustomizeTarget(_Model):
    """Argo CD Image Updater's kustomize write-back: ``images:`` in a kustomization."""

    path: str = Field(min_length=1)
    name: str = ""  # the image name the entry matches; the policy's image by default


class HelmTarget(_Model):
    """Argo CD Image Updater's Helm write-back: a tag (and name) key in a values file."""

    file: str = Field(min_length=1)
    tag_key: str = "image.tag"
    name_key: str = ""


class WriteBack(_Model):
    repo_url: str = Field(alias="repoURL", min_length=1)
    branch: str = "main"
    push_branch: str = ""
    paths: list[str] = Field(default_factory=list)
    kustomize: KustomizeTarget | None = None
    helm: HelmTarget | None = None
    commit: Commit = Field(default_factory=Commit)
    dry_run: bool = False
    pull_request: pullrequest.PullRequest | None = None

    @model_validator(mode="after")
    def _pull_request_needs_its_own_branch(self) -> WriteBack:
        if self.pull_request is not None and self.push_branch in ("", self.branch):
            raise ValueError("pullRequest needs a pushBranch other than branch")
        return self


class ImagePolicySpec(_Model):
    project: str = "default"
    image: str = Field(min_length=1, max_length=500)
    secret_ref: LocalRef | None = None
    registry_credential: str | None = Field(default=None, min_length=1, max_length=253)
    ecr: Ecr | None = None
    interval: Duration = DEFAULT_INTERVAL
    filter_tags: FilterTags | None = None
    policy: Ordering
    digest_pinning: bool = False
    write_back: WriteBack
    suspend: bool = False

    @field_validator("image")
    @classmethod
    def _no_tag(cls, value: str) -> str:
        last = value.rsplit("/", 1)[-1]
        if "@" in value or ":" in last:
            raise ValueError("image is a repository without tag or digest, e.g. host/team/api")
        return value

    @model_validator(mode="after")
    def _one_login(self) -> ImagePolicySpec:
        if self.secret_ref is not None and self.registry_credential is not None:
            raise ValueError("set secretRef or registryCredential, not both")
        return self

    @property
    def host(self) -> str:
        first, slash, _ = self.image.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            return first.lower()
        return "docker.io"

    @property
    def repository(self) -> str:
        """The repository path on the registry (``library/`` added for Docker Hub names)."""
        first, slash, rest = self.image.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            return rest
        return self.image if "/" in self.image else f"library/{self.image}"


def repository_key(image: str) -> str:
    """``host/repository`` with the host lower-cased and Docker Hub's defaults filled in."""
    first, slash, rest = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return f"{first.lower()}/{rest}"
    return f"docker.io/{image if '/' in image else 'library/' + image}"


def parse_spec(spec: dict[str, Any]) -> ImagePolicySpec:
    try:
        return ImagePolicySpec.model_validate(spec)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        raise SpecError(f"spec.{where}: {first['msg']}") from None
