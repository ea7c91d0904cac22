"""Git commit statuses as data: which commit, which state, and the request that sets it.

A commit-status service marks the commit an app synced, on the Git host
that serves it, the way CI marks a build: a sync that succeeded (or an app
Healthy again) is ``success``, a failed sync or a Degraded app ``failure``,
under one context per app (``tether/<app>`` unless configured), so the
latest word about the app is what the commit shows. Configured in the
notifications ConfigMap like the other services::

    service.github: |                 # Argo CD's name; enterpriseBaseURL is read too
      token: $github-token
    service.gitea.forge: |
      apiURL: https://gitea.example.com
      token: $gitea-token
      context: deploy/{app}           # {app} and {namespace} are filled in
      targetURL: https://tether.example.com/applications/{app}

The commit is the one the notice names (the synced revision) or, for a
health notice, the revision the app is synced to; the repository is the
app's ``spec.source.repoURL`` (Argo CD's default for its GitHub service).
Requests are built here, without I/O; ``tether.adapters.notify.commit_status``
sends them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from tether.engine import forge
from tether.engine import notifications as model

KINDS = forge.KINDS
DEFAULT_CONTEXT = "tether/{app}"
_DESCRIPTION_MAX = {forge.GITHUB: 140, forge.GITEA: 255, forge.GITLAB: 255}
_GITLAB_STATES = {"success": "success", "failure": "failed", "error": "failed"}
_ARGO_APP_KEYS = ("appID", "installationID", "privateKey")


@dataclass(frozen=True)
class StatusConfig:
    name: str
    kind: str  # "github", "gitea" or "gitlab"
    api_url: str  # the API root, e.g. https://gitea.example.com/api/v1
    web_url: str = ""  # as configured (GitLab projects are found relative to it)
    token: str = field(default="", repr=False)
    context: str = DEFAULT_CONTEXT
    target_url: str = ""


@dataclass(frozen=True)
class StatusRequest:
    url: str
    body: bytes
    headers: Mapping[str, str] = field(repr=False)
    state: str = ""
    sha: str = ""


def parse_services(
    data: Mapping[str, str], secret: Mapping[str, str]
) -> tuple[dict[str, StatusConfig], list[str]]:
    """Commit-status services of the notifications ConfigMap, and why others are unusable.

    ``service.<kind>`` is named ``<kind>``, ``service.<kind>.<name>`` is named
    ``<name>``; ``$key`` values are read from the notifications Secret.
    """
    services: dict[str, StatusConfig] = {}
    problems: list[str] = []
    for key, raw in sorted(data.items()):
        match = re.fullmatch(r"service\.(github|gitea|gitlab)(?:\.([A-Za-z0-9_-]+))?", key)
        if match is None:
            continue
        kind, name = match.group(1), match.group(2) or match.group(1)
        try:
            body = yaml.safe_load(raw) or {}
            if not isinstance(body, dict):
                raise forge.ForgeError("not a mapping")
            services[name] = _config(name, kind, body, secret)
        except (forge.ForgeError, yaml.YAMLError) as exc:
            problems.append(f"{key}: {str(exc).splitlines()[0]}")
    return services, problems


def _config(
    name: str, kind: str, body: Mapping[str, Any], secret: Mapping[str, str]
) -> StatusConfig:
    def resolve(value: str) -> str:
        if not value.startswith("$"):
            return value
        if value[1:] not in secret:
            raise forge.ForgeError(f"Secret {model.SECRET} has no key {value[1:]!r}")
        return secret[value[1:]]

    web_url = resolve(str(body.get("apiURL") or body.get("enterpriseBaseURL") or ""))
    token = resolve(str(body.get("token") or ""))
    if not token:
        if kind == forge.GITHUB and any(body.get(k) for k in _ARGO_APP_KEYS):
            raise forge.ForgeError(
                "GitHub App keys (appID, installationID, privateKey) are not supported yet; "
                "give a token"
            )
        raise forge.ForgeError("token is required")
    if any(c in token for c in "\r\n"):
        raise forge.ForgeError("token is not a single line")
    context = str(body.get("context") or body.get("label") or DEFAULT_CONTEXT)
    target = str(body.get("targetURL") or "")
    if target and not target.startswith(("https://", "http://")):
        raise forge.ForgeError("targetURL must be http(s)")
    api_url = forge.api_base(kind, web_url)
    return StatusConfig(name, kind, api_url, web_url, token, context, target)


def state_for(notice: model.Notice) -> str | None:
    """GitHub's state for a notice (success, failure, error); None: no status for it."""
    if notice.trigger in (model.SYNC_SUCCEEDED, model.HEALTH_RECOVERED):
        return "success"
    if notice.trigger == model.SYNC_FAILED:
        return "error" if notice.details.get("phase") == "Error" else "failure"
    if notice.trigger == model.HEALTH_DEGRADED:
        return "failure"
    return None


def description(notice: model.Notice) -> str:
    what = {
        model.SYNC_SUCCEEDED: "Synced",
        model.SYNC_FAILED: "Sync failed",
        model.HEALTH_DEGRADED: "Degraded",
        model.HEALTH_RECOVERED: "Healthy again",
    }.get(notice.trigger, notice.trigger)
    first = notice.message.strip().splitlines()[0] if notice.message.strip() else ""
    if notice.trigger == model.SYNC_SUCCEEDED or not first:
        return what
    return f"{what}: {first}"


def target(notice: model.Notice, app: Mapping[str, Any]) -> tuple[str, str]:
    """The repository URL and commit a notice is about (empty when the app has none)."""
    spec = app.get("spec") or {}
    status = app.get("status") or {}
    source = spec.get("source") or next(iter(spec.get("sources") or []), None) or {}
    sync = status.get("sync") or {}
    revision = notice.revision or str(sync.get("revision") or "")
    if not revision and sync.get("revisions"):
        revision = str(sync["revisions"][0] or "")
    return str(source.get("repoURL") or ""), revision


def _fill(template: str, notice: model.Notice) -> str:
    # Plain substitution, never str.format: the template is admin-written but the
    # values are not, and format() would follow attribute lookups.
    return template.replace("{app}", notice.app).replace("{namespace}", notice.namespace)


def request(
    notice: model.Notice, config: StatusConfig, app: Mapping[str, Any]
) -> StatusRequest | None:
    """The request that sets the status for ``notice``; None when the trigger sets none.

    Raises ForgeError when the app's repository or revision cannot be used.
    """
    state = state_for(notice)
    if state is None:
        return None
    repo_url, revision = target(notice, app)
    sha = forge.commit_sha(revision)
    repo = forge.repository(repo_url, config.kind, config.web_url)
    text = description(notice)[: _DESCRIPTION_MAX[config.kind]]
    context = _fill(config.context, notice)[:255]
    target_url = _fill(config.target_url, notice) if config.target_url else ""
    url = f"{config.api_url}{repo.api_path(config.kind)}/statuses/{sha}"
    body: dict[str, str]
    if config.kind == forge.GITLAB:
        state = _GITLAB_STATES[state]
        body = {"state": state, "name": context, "description": text}
        headers = {"PRIVATE-TOKEN": config.token}
    else:
        body = {"state": state, "context": context, "description": text}
        headers = {"Authorization": forge.authorization(config.kind, config.token)}
        if config.kind == forge.GITHUB:
            headers["Accept"] = "application/vnd.github+json"
    if target_url:
        body["target_url"] = target_url
    payload = json.dumps(body, sort_keys=True).encode()
    return StatusRequest(url, payload, headers, state, sha)
