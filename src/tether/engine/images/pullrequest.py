"""Pull requests for image updates pushed to their own branch, as data.

With ``writeBack.pushBranch`` the update lands on a branch of its own; with
``writeBack.pullRequest`` too, Tether opens a pull request from that branch
to ``writeBack.branch`` on the Git host, or, when one is open already,
updates its title and description to the newest update: there is never more
than one open request per branch pair. Gitea does not refuse a second create
that races the first, so after opening one Tether looks again and, when an
older open request exists, closes its own and keeps the older. The setting follows Argo CD's
ApplicationSet pull-request generator (a block named after the host, with
``api`` and ``tokenRef``); the repository is ``writeBack.repoURL``'s::

    pullRequest:
      gitea:                       # or github (api defaults to api.github.com)
        api: https://gitea.example.com
        tokenRef: {secretName: gitea-token, key: token}   # in the policy's namespace

GitHub and Gitea share the request shapes used here
(``GET/POST /repos/{owner}/{repo}/pulls``, ``PATCH .../pulls/{number}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from tether.engine import forge

KINDS = (forge.GITHUB, forge.GITEA)
TITLE_MAX = 250
BODY_MAX = 10_000
PAGE_SIZE = 50
MAX_PAGES = 20
FOOTER = (
    "Opened by Tether image automation for ImagePolicy {namespace}/{policy}. "
    "Later updates are pushed to `{head}` and this description follows them."
)


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class TokenRef(_Model):
    """A key of a Secret in the policy's own namespace (no namespace field, on purpose)."""

    secret_name: str = Field(min_length=1, max_length=253)
    key: str = Field(default="token", min_length=1, max_length=253)


class Provider(_Model):
    api: str = ""
    token_ref: TokenRef


class PullRequest(_Model):
    github: Provider | None = None
    gitea: Provider | None = None

    @model_validator(mode="after")
    def _one(self) -> PullRequest:
        if (self.github is None) == (self.gitea is None):
            raise ValueError("exactly one of github, gitea must be set")
        provider = self.provider
        try:
            forge.api_base(self.kind, provider.api)
        except forge.ForgeError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def kind(self) -> str:
        return forge.GITHUB if self.github is not None else forge.GITEA

    @property
    def provider(self) -> Provider:
        found = self.github or self.gitea
        assert found is not None
        return found


@dataclass(frozen=True)
class Target:
    """Where a pull request goes: the host's API, the repository and the branches."""

    kind: str
    api_url: str
    repo: forge.Repository
    head: str
    base: str
    token: str = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        out = {
            "Authorization": forge.authorization(self.kind, self.token),
            "Accept": "application/json",
        }
        if self.kind == forge.GITHUB:
            out["Accept"] = "application/vnd.github+json"
        return out

    @property
    def pulls_url(self) -> str:
        return f"{self.api_url}{self.repo.api_path(self.kind)}/pulls"


def target(config: PullRequest, repo_url: str, head: str, base: str, token: str) -> Target:
    """Raises ForgeError when the repository URL does not name a repository on a host."""
    if not token or any(c in token for c in "\r\n"):
        raise forge.ForgeError("the pull request token is empty or not a single line")
    kind = config.kind
    api_url = forge.api_base(kind, config.provider.api)
    return Target(kind, api_url, forge.repository(repo_url, kind), head, base, token)


def list_url(t: Target, page: int) -> str:
    """Open pull requests into ``base`` (GitHub also filters by head; both are re-checked)."""
    if t.kind == forge.GITHUB:
        query = {
            "state": "open",
            "head": f"{t.repo.owner}:{t.head}",
            "base": t.base,
            "per_page": str(PAGE_SIZE),
            "page": str(page),
        }
    else:
        query = {"state": "open", "base_branch": t.base, "limit": str(PAGE_SIZE), "page": str(page)}
    return f"{t.pulls_url}?{urlencode(query)}"


def open_matching(pulls: object, t: Target) -> list[dict[str, Any]]:
    """Open pull requests from ``t.head`` to ``t.base`` in the repository itself, oldest first.

    A fork's branch of the same name is not ours, so the head repository must
    be the target repository when the host says which it is.
    """
    if not isinstance(pulls, list):
        return []
    found = []
    for pull in pulls:
        if not isinstance(pull, dict) or pull.get("state", "open") != "open":
            continue
        head, base = pull.get("head") or {}, pull.get("base") or {}
        if not isinstance(head, dict) or not isinstance(base, dict):
            continue
        if head.get("ref") != t.head or base.get("ref") != t.base:
            continue
        repo = head.get("repo")
        named = str(repo.get("full_name") or "") if isinstance(repo, dict) else ""
        if named and named.lower() != t.repo.path.lower():
            continue
        if isinstance(pull.get("number"), int):
            found.append(pull)
    return sorted(found, key=lambda p: int(p["number"]))


def find_open(pulls: object, t: Target) -> Mapping[str, Any] | None:
    """The oldest open pull request from ``t.head`` to ``t.base``, if any."""
    found = open_matching(pulls, t)
    return found[0] if found else None


def text(message: str, namespace: str, policy: str, head: str) -> tuple[str, str]:
    """Title and description from the commit message: its first line, then the rest."""
    lines = message.strip().splitlines() or ["Update images"]
    title = lines[0].strip()[:TITLE_MAX] or "Update images"
    rest = "\n".join(lines[1:]).strip()
    footer = FOOTER.format(namespace=namespace, policy=policy, head=head)
    body = f"{rest}\n\n{footer}" if rest else footer
    return title, body[:BODY_MAX]


def create_body(t: Target, title: str, body: str) -> dict[str, str]:
    return {"title": title, "body": body, "head": t.head, "base": t.base}


def update_body(title: str, body: str) -> dict[str, str]:
    return {"title": title, "body": body}


def close_body() -> dict[str, str]:
    return {"state": "closed"}


def is_duplicate(status: int) -> bool:
    """The host refused a create because the pull request exists (Gitea 409, GitHub 422)."""
    return status in (409, 422)
