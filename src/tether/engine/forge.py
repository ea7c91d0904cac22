"""Git hosts' REST APIs as data: which repository a URL names and where its API is.

GitHub, Gitea and GitLab name a repository by its path on the host and take
that path in their API URLs, each under its own base (GitHub's own host
``api.github.com`` or an Enterprise server's ``/api/v3``, Gitea's
``/api/v1``, GitLab's ``/api/v4``). The repository path comes from an app's
or a policy's ``repoURL``, which is untrusted: every segment is checked and
percent-encoded, so a crafted URL can never point a request carrying the
host's token at another API path (``../../admin``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from tether.engine.credentials import comparable_url

GITHUB = "github"
GITEA = "gitea"
GITLAB = "gitlab"
KINDS = (GITHUB, GITEA, GITLAB)
GITHUB_API = "https://api.github.com"
_API_SUFFIX = {GITEA: "/api/v1", GITLAB: "/api/v4"}
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


class ForgeError(ValueError):
    """A URL, revision or setting a Git host's API cannot be called with."""


@dataclass(frozen=True)
class Repository:
    """A repository on a Git host: ``owner/name`` (GitLab: ``group/sub/project``)."""

    path: str

    @property
    def owner(self) -> str:
        return self.path.rsplit("/", 1)[0]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    def api_path(self, kind: str) -> str:
        """The repository's part of an API URL: ``/repos/o/r`` or ``/projects/<id>``."""
        if kind == GITLAB:
            return "/projects/" + quote(self.path, safe="")
        return f"/repos/{quote(self.owner, safe='')}/{quote(self.name, safe='')}"


def api_base(kind: str, api_url: str) -> str:
    """The API root for ``kind`` given the host's URL (GitHub's default when empty).

    Gitea and GitLab are given as their web address (``https://git.example.com``);
    ``/api/v1`` or ``/api/v4`` is added unless it is there already. GitHub
    Enterprise is given as its API root (``https://ghe.example.com/api/v3``),
    as in Argo CD's ``enterpriseBaseURL``.
    """
    if kind not in KINDS:
        raise ForgeError(f"unknown Git host kind {kind!r} (one of {', '.join(KINDS)})")
    url = api_url.strip().rstrip("/")
    if not url:
        if kind == GITHUB:
            return GITHUB_API
        raise ForgeError("the server's URL is required")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ForgeError("the server's URL must be http(s)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ForgeError("the server's URL must not carry credentials, a query or a fragment")
    suffix = _API_SUFFIX.get(kind, "")
    if suffix and not url.endswith(suffix):
        url += suffix
    return url


def repository(repo_url: str, kind: str, api_url: str = "") -> Repository:
    """The repository ``repo_url`` names on a host of ``kind``.

    GitHub and Gitea repositories are always ``owner/name``: the last two path
    segments (a Gitea served under a sub-path keeps working). A GitLab project
    may sit in nested groups: its whole path, less the sub-path GitLab is
    served under when ``api_url`` is on the same host.
    """
    url = comparable_url(repo_url)
    if "://" not in url:
        raise ForgeError("the repository URL has no host")
    scheme, rest = url.split("://", 1)
    host, _, path = rest.partition("/")
    if scheme not in ("https", "http", "ssh", "git") or not host:
        raise ForgeError("the repository URL is not on a Git host")
    segments = [s for s in path.split("/") if s]
    if kind == GITLAB:
        web = urlsplit(api_url.strip().rstrip("/").removesuffix(_API_SUFFIX[GITLAB]))
        prefix = [s for s in web.path.split("/") if s]
        if (web.netloc or "").lower() == host and segments[: len(prefix)] == prefix:
            segments = segments[len(prefix) :]
        if segments and segments[0] == "-":
            raise ForgeError("not a GitLab project URL")
    else:
        segments = segments[-2:]
    if len(segments) < 2 or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise ForgeError("the repository URL does not name an owner and a repository")
    if any(s.endswith((".", ".git")) for s in segments[:-1]):
        raise ForgeError("the repository URL does not name an owner and a repository")
    return Repository("/".join(segments))


def authorization(kind: str, token: str) -> str:
    """The ``Authorization`` header for a GitHub or Gitea token (GitLab takes ``PRIVATE-TOKEN``)."""
    return f"token {token}" if kind == GITEA else f"Bearer {token}"


def commit_sha(revision: str) -> str:
    """``revision`` if it is a full commit id (SHA-1 or SHA-256), else ForgeError."""
    if not _SHA.fullmatch(revision):
        raise ForgeError("the revision is not a full commit id")
    return revision
