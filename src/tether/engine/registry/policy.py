"""What a RegistryCredential may run, read and call: the administrator's registry policy.

A RegistryCredential is a cluster-scoped object, and its provider block used to
be taken at its word: the ``exec`` provider ran any command with the
controller's whole environment, ``ecr.endpointURL`` sent signed requests (and,
with ``webIdentityTokenFile``, any file the controller can read) to any URL,
``secretRef`` read a Secret in any namespace, and an empty selector copied the
pull Secret into every namespace.

What may be run, read or called is therefore decided by an allow-list that
only an administrator maintains: the ConfigMap ``tether-registry-policy`` in
the controller's own namespace (where no project may deploy, and which the
controller ignores if an Application deployed it). Every key holds one entry
per line (blank lines and ``#`` comments are skipped):

* ``execCommands``: absolute command paths an exec provider may run;
* ``execEnv``: environment variable names (globs) an exec provider may set;
* ``endpointURLs``: URL prefixes ``provider.ecr.endpointURL`` may start with;
* ``tokenFiles``: paths ``provider.ecr.webIdentityTokenFile`` may name.

No ConfigMap means nothing is allowed. This module is pure: the controller
reads the ConfigMap and asks ``refusals`` before it reads, runs or posts
anything; each refusal names the field and the rule it broke.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from tether.engine.application import INSTANCE_LABEL
from tether.engine.registry.spec import RegistryCredentialSpec

POLICY_CONFIGMAP = "tether-registry-policy"
KEYS = ("execCommands", "execEnv", "endpointURLs", "tokenFiles")

# Names no policy can admit: they load code, redirect a plugin to other files,
# endpoints or identities, or are the controller's own configuration.
NEVER_ENV_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "ENV",
        "BASH_ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "IFS",
        "PS4",
        "GCONV_PATH",
        "LOCPATH",
        "NLSPATH",
        "HOSTALIASES",
        "KUBECONFIG",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CA_BUNDLE",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
    }
)
NEVER_ENV_PREFIXES = (
    "LD_",
    "DYLD_",
    "PYTHON",
    "PERL",
    "RUBY",
    "NODE_",
    "GIT_",
    "BASH_FUNC_",
    "AWS_ENDPOINT_URL",
    "TETHER_",
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


@dataclass(frozen=True)
class RegistryPolicy:
    """The allow-lists; the empty policy (no ConfigMap) allows nothing."""

    namespace: str
    exists: bool = False
    ignored_because: str = ""
    exec_commands: frozenset[str] = frozenset()
    exec_env: tuple[str, ...] = ()
    endpoint_urls: tuple[str, ...] = ()
    token_files: frozenset[str] = frozenset()
    problems: tuple[str, ...] = field(default=())

    @property
    def where(self) -> str:
        return f"ConfigMap {self.namespace}/{POLICY_CONFIGMAP}"

    @property
    def absent_note(self) -> str:
        """Why the lists are empty, when they are empty for a reason other than the admin's."""
        if self.ignored_because:
            return f" ({self.where} is ignored: {self.ignored_because}, so nothing is allowed)"
        if not self.exists:
            return f" ({self.where} does not exist, so nothing is allowed)"
        return ""


@dataclass(frozen=True)
class Refusal:
    """One broken rule: ``field`` is the spec path, ``rule`` says what is allowed instead."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


def _lines(text: object) -> list[str]:
    if not isinstance(text, str):
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and line[:1] != "#"]


def is_clean_path(path: str) -> bool:
    """Absolute, normalised, no ``..``: the same string the kernel will open."""
    return path.startswith("/") and posixpath.normpath(path) == path and "\x00" not in path


def _clean_url(text: str) -> SplitResult | None:
    try:
        url = urlsplit(text)
        url.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return None
    if url.scheme not in ("http", "https") or not url.hostname:
        return None
    if url.username is not None or url.password is not None or url.query or url.fragment:
        return None
    return url


def policy_from_configmap(configmap: dict[str, Any] | None, namespace: str) -> RegistryPolicy:
    """The policy in ``configmap`` (None when it does not exist); bad entries are skipped."""
    if configmap is None:
        return RegistryPolicy(namespace=namespace)
    labels = (configmap.get("metadata") or {}).get("labels") or {}
    if labels.get(INSTANCE_LABEL):
        reason = (
            f"it was deployed by Application {labels[INSTANCE_LABEL]} from Git; the registry "
            "policy is maintained by an administrator only"
        )
        return RegistryPolicy(namespace=namespace, exists=True, ignored_because=reason)
    data = configmap.get("data") or {}
    problems = [f"unknown key {key!r}" for key in sorted(data) if key not in KEYS]
    commands, files, urls, env = set(), set(), [], []
    for entry in _lines(data.get("execCommands")):
        if is_clean_path(entry):
            commands.add(entry)
        else:
            problems.append(f"execCommands: {entry!r} is not an absolute, normalised path")
    for entry in _lines(data.get("tokenFiles")):
        if is_clean_path(entry):
            files.add(entry)
        else:
            problems.append(f"tokenFiles: {entry!r} is not an absolute, normalised path")
    for number, entry in enumerate(_lines(data.get("endpointURLs")), 1):
        if _clean_url(entry) is not None:
            urls.append(entry)
        else:  # not echoed: a URL with userinfo holds a credential
            problems.append(
                f"endpointURLs: entry {number} is not an http(s) URL without credentials or query"
            )
    for entry in _lines(data.get("execEnv")):
        if re.fullmatch(r"[A-Za-z0-9_*?]+", entry):
            env.append(entry)
        else:
            problems.append(f"execEnv: {entry!r} is not a variable name or glob")
    return RegistryPolicy(
        namespace=namespace,
        exists=True,
        exec_commands=frozenset(commands),
        exec_env=tuple(env),
        endpoint_urls=tuple(urls),
        token_files=frozenset(files),
        problems=tuple(problems),
    )


def url_allowed(url: str, prefixes: tuple[str, ...]) -> bool:
    """Same scheme, host and port as an allowed prefix, and its path at a ``/`` boundary.

    A plain string prefix would let ``https://ecr.example.com.evil.net`` through an
    allowed ``https://ecr.example.com``; this does not.
    """
    target = _clean_url(url)
    if target is None:
        return False
    for prefix in prefixes:
        allowed = _clean_url(prefix)
        if allowed is None:
            continue
        same_origin = (
            target.scheme == allowed.scheme
            and target.hostname == allowed.hostname
            and _port(target) == _port(allowed)
        )
        base = allowed.path.rstrip("/")
        path = target.path or "/"
        if same_origin and (path.rstrip("/") == base or path.startswith(base + "/")):
            return True
    return False


def _port(url: SplitResult) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def env_name_refusal(name: str, policy: RegistryPolicy) -> str | None:
    """Why ``name`` may not be set in an exec provider's environment, or None."""
    if not _ENV_NAME.match(name):
        return f"{name!r} is not a valid environment variable name"
    if name.upper() in NEVER_ENV_NAMES or name.upper().startswith(NEVER_ENV_PREFIXES):
        return (
            f"{name} is never allowed: it loads code or redirects the plugin to other files, "
            "endpoints or identities"
        )
    if not any(fnmatch.fnmatchcase(name, pattern) for pattern in policy.exec_env):
        return f"{name} is not in execEnv of {policy.where}{policy.absent_note}"
    return None


def refusals(
    spec: RegistryCredentialSpec, policy: RegistryPolicy, controller_namespace: str
) -> list[Refusal]:
    """Every rule ``spec`` breaks; empty means the controller may act on it."""
    out: list[Refusal] = []
    selector = spec.namespaces.selector
    if selector is not None and not selector.match_labels:
        out.append(
            Refusal(
                "namespaces.selector",
                "an empty selector would copy the pull Secret into every namespace; "
                "set matchLabels or list namespaces.names",
            )
        )
    provider = spec.provider
    refs = []
    if provider.basic is not None:
        refs.append(("provider.basic.secretRef", provider.basic.secret_ref))
    if provider.ecr is not None and provider.ecr.credentials_secret_ref is not None:
        refs.append(("provider.ecr.credentialsSecretRef", provider.ecr.credentials_secret_ref))
    for where, ref in refs:
        if ref.namespace not in (None, controller_namespace):
            out.append(
                Refusal(
                    f"{where}.namespace",
                    f"Secrets are read only from the controller's namespace "
                    f"{controller_namespace}, not {ref.namespace}; move the Secret there",
                )
            )
    if provider.exec_ is not None:
        out.extend(_exec_refusals(provider.exec_.command, provider.exec_.env, policy))
    if provider.ecr is not None:
        out.extend(_ecr_refusals(spec, policy))
    return out


def _exec_refusals(command: str, env: list[Any], policy: RegistryPolicy) -> list[Refusal]:
    return exec_refusals(command, [var.name for var in env], policy, field="provider.exec")


def exec_refusals(
    command: str, env_names: list[str], policy: RegistryPolicy, *, field: str
) -> list[Refusal]:
    """Why an exec plugin (a RegistryCredential's, or a cluster Secret's kubeconfig
    plugin at ``field``) may not run ``command`` with these variables set."""
    out = []
    if not is_clean_path(command):
        out.append(Refusal(f"{field}.command", "must be an absolute, normalised path (no shell)"))
    elif command not in policy.exec_commands:
        out.append(
            Refusal(
                f"{field}.command",
                f"{command} is not in execCommands of {policy.where}{policy.absent_note}",
            )
        )
    for i, name in enumerate(env_names):
        why = env_name_refusal(name, policy)
        if why is not None:
            out.append(Refusal(f"{field}.env[{i}].name", why))
    return out


def _ecr_refusals(spec: RegistryCredentialSpec, policy: RegistryPolicy) -> list[Refusal]:
    ecr = spec.provider.ecr
    assert ecr is not None
    out = []
    if ecr.region and not _AWS_REGION.match(ecr.region):
        out.append(Refusal("provider.ecr.region", "must be an AWS region name like eu-west-1"))
    if ecr.endpoint_url is not None and not url_allowed(ecr.endpoint_url, policy.endpoint_urls):
        out.append(
            Refusal(
                "provider.ecr.endpointURL",
                "not under any prefix in endpointURLs of "
                f"{policy.where}{policy.absent_note}; leave it out to use AWS's own endpoint",
            )
        )
    token_file = ecr.web_identity_token_file
    if token_file is not None and (
        not is_clean_path(token_file) or token_file not in policy.token_files
    ):
        out.append(
            Refusal(
                "provider.ecr.webIdentityTokenFile",
                f"{token_file} is not in tokenFiles of {policy.where}{policy.absent_note}; "
                "leave it out to use the controller's own AWS identity (IRSA sets it)",
            )
        )
    return out


def refusal_message(found: list[Refusal]) -> str:
    return "refused by the registry policy: " + "; ".join(str(r) for r in found)
