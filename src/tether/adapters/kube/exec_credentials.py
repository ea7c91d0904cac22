"""Credentials from a kubeconfig exec plugin (``client.authentication.k8s.io``).

EKS (``aws eks get-token``), GKE (``gke-gcloud-auth-plugin``), AKS
(``kubelogin``) and others hand out short-lived credentials through a command
named in the kubeconfig's ``users[].user.exec``. The command prints an
``ExecCredential`` whose ``status`` holds a bearer token or a client
certificate and key, and usually an ``expirationTimestamp``.

As client-go does:

- the command runs with the kubeconfig's ``args`` and ``env`` added to
  Tether's environment, plus ``KUBERNETES_EXEC_INFO`` (the cluster's details
  when ``provideClusterInfo`` is set); a command given with a path relative
  to the kubeconfig's folder is found there;
- the credential is kept until its ``expirationTimestamp`` and the command
  runs again after it (a credential without one is kept until a 401);
- a 401 Unauthorized runs the command again and, when it hands out a new
  token, sends the request once more.

Tether never runs interactively: stdin is closed and the plugin is told so;
a plugin that demands a terminal (``interactiveMode: Always``) is refused
with a clear error instead of hanging. The command is killed after
``timeout`` seconds. What it writes on stderr is shown only when it fails,
shortened and with anything that looks like a credential (and every value
of its configured environment) masked, because plugins print tokens and
keys in their debug output.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
TIMEOUT = 60.0
# A credential is replaced this long before it expires, so a request sent just
# before the deadline does not arrive just after it.
EXPIRY_MARGIN = 10.0
STDERR_SHOWN = 400

# Long runs of token-ish characters (JWTs, base64 keys, hex secrets) and PEM blocks.
_SECRETISH = re.compile(
    r"-----BEGIN [^-]+-----.*?-----END [^-]+-----|[A-Za-z0-9+/=_.\-]{24,}", re.S
)


class ExecCredentialError(RuntimeError):
    """The exec plugin could not be run or gave no usable credential."""


@dataclass(frozen=True)
class ExecConfig:
    """``users[].user.exec`` of a kubeconfig (also Argo CD's ``execProviderConfig``)."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = "client.authentication.k8s.io/v1"
    interactive_mode: str = "IfAvailable"
    provide_cluster_info: bool = False
    install_hint: str = ""
    # The kubeconfig's folder: a relative command path is looked up there.
    base_dir: str | None = None

    @classmethod
    def from_kubeconfig(cls, spec: dict[str, Any], base_dir: str | None = None) -> ExecConfig:
        """Read ``users[].user.exec``; raise ExecCredentialError when it is unusable."""
        command = str(spec.get("command") or "")
        if not command:
            raise ExecCredentialError("exec credential plugin: no command")
        api_version = str(spec.get("apiVersion") or "")
        if api_version not in API_VERSIONS:
            raise ExecCredentialError(
                f"exec credential plugin {command}: apiVersion {api_version!r} is not supported"
                f" (use one of {', '.join(API_VERSIONS)})"
            )
        env = tuple((str(e.get("name")), str(e.get("value", ""))) for e in spec.get("env") or [])
        return cls(
            command=command,
            args=tuple(str(a) for a in spec.get("args") or []),
            env=env,
            api_version=api_version,
            interactive_mode=str(spec.get("interactiveMode") or "IfAvailable"),
            provide_cluster_info=bool(spec.get("provideClusterInfo")),
            install_hint=str(spec.get("installHint") or ""),
            base_dir=base_dir,
        )

    @classmethod
    def from_argocd(cls, spec: dict[str, Any]) -> ExecConfig:
        """Argo CD's ``execProviderConfig`` (``env`` is a map there)."""
        env = spec.get("env") or {}
        items = [{"name": k, "value": v} for k, v in env.items()] if isinstance(env, dict) else env
        return cls.from_kubeconfig({**spec, "env": items})

    def to_argocd(self) -> dict[str, Any]:
        out: dict[str, Any] = {"command": self.resolved_command(), "apiVersion": self.api_version}
        if self.args:
            out["args"] = list(self.args)
        if self.env:
            out["env"] = dict(self.env)
        if self.install_hint:
            out["installHint"] = self.install_hint
        return out

    def resolved_command(self) -> str:
        if self.base_dir and os.sep in self.command and not os.path.isabs(self.command):
            return str(Path(self.base_dir) / self.command)
        return self.command


@dataclass(frozen=True)
class ClusterInfo:
    """What ``provideClusterInfo`` passes to the plugin."""

    server: str
    ca_data: str | None = None  # base64 PEM
    insecure: bool = False
    server_name: str | None = None


@dataclass
class Credential:
    token: str | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    expires_at: float | None = None  # wall-clock seconds
    files: tuple[str, str] | None = field(default=None, repr=False)


def parse(output: bytes, cfg: ExecConfig) -> Credential:
    """The credential in an ExecCredential document (never echoes the document)."""
    try:
        doc = json.loads(output)
    except ValueError as exc:
        raise ExecCredentialError(f"exec plugin {cfg.command}: output is not JSON") from exc
    if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
        raise ExecCredentialError(f"exec plugin {cfg.command}: output is not an ExecCredential")
    if doc.get("apiVersion") != cfg.api_version:
        raise ExecCredentialError(
            f"exec plugin {cfg.command}: answered with apiVersion {doc.get('apiVersion')!r},"
            f" asked for {cfg.api_version}"
        )
    status = doc.get("status") or {}
    token = status.get("token") or None
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    if bool(cert) != bool(key):
        raise ExecCredentialError(
            f"exec plugin {cfg.command}: clientCertificateData and clientKeyData come together"
        )
    if not token and not cert:
        raise ExecCredentialError(f"exec plugin {cfg.command}: no token and no client certificate")
    expires_at = None
    stamp = status.get("expirationTimestamp")
    if stamp:
        try:
            expires_at = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
        except ValueError as exc:
            raise ExecCredentialError(
                f"exec plugin {cfg.command}: expirationTimestamp {stamp!r} is not RFC 3339"
            ) from exc
    return Credential(
        token=str(token) if token else None,
        cert_pem=str(cert).encode() if cert else None,
        key_pem=str(key).encode() if key else None,
        expires_at=expires_at,
    )


def mask(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with credential-looking runs and the given values replaced, shortened."""
    for value in secrets:
        if len(value) >= 4:
            text = text.replace(value, "***")
    text = _SECRETISH.sub("***", text).strip()
    return text if len(text) <= STDERR_SHOWN else "..." + text[-STDERR_SHOWN:]


class ExecCredentials:
    """The current credential from one exec plugin, run again when it expires."""

    def __init__(
        self,
        cfg: ExecConfig,
        cluster: ClusterInfo | None = None,
        *,
        timeout: float = TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.cluster = cluster
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._current: Credential | None = None
        self._cert_listeners: list[Callable[[Credential], None]] = []
        self.runs = 0

    def credential(self, *, force: bool = False) -> Credential:
        """The cached credential, or a fresh one when forced, absent or expiring."""
        with self._lock:
            cur = self._current
            fresh_enough = cur is not None and (
                cur.expires_at is None or self._clock() < cur.expires_at - EXPIRY_MARGIN
            )
            if cur is not None and fresh_enough and not force:
                return cur
            new = self._run()
            if new.cert_pem and new.key_pem:
                new.files = _write_pair(new.cert_pem, new.key_pem)
            self._current = new
            listeners = list(self._cert_listeners) if new.files else []
        for listener in listeners:
            listener(new)
        if cur is not None and cur.files and cur.files != new.files:
            for name in cur.files:
                Path(name).unlink(missing_ok=True)
        return new

    def token(self, *, force: bool = False) -> str | None:
        return self.credential(force=force).token

    def cached(self) -> Credential | None:
        """The credential if one is held and not about to expire (no plugin run, no lock)."""
        cur = self._current
        if cur is None or (
            cur.expires_at is not None and self._clock() >= cur.expires_at - EXPIRY_MARGIN
        ):
            return None
        return cur

    def on_new_certificate(self, listener: Callable[[Credential], None]) -> None:
        """Call ``listener`` with each new credential that carries a client certificate."""
        self._cert_listeners.append(listener)

    def _exec_info(self) -> str:
        spec: dict[str, Any] = {"interactive": False}
        if self.cfg.provide_cluster_info and self.cluster is not None:
            cluster: dict[str, Any] = {"server": self.cluster.server}
            if self.cluster.ca_data:
                cluster["certificate-authority-data"] = self.cluster.ca_data
            if self.cluster.insecure:
                cluster["insecure-skip-tls-verify"] = True
            if self.cluster.server_name:
                cluster["tls-server-name"] = self.cluster.server_name
            spec["cluster"] = cluster
        doc = {"apiVersion": self.cfg.api_version, "kind": "ExecCredential", "spec": spec}
        return json.dumps(doc)

    def _run(self) -> Credential:
        cfg = self.cfg
        if cfg.interactive_mode == "Always":
            raise ExecCredentialError(
                f"exec plugin {cfg.command} needs a terminal (interactiveMode: Always);"
                " Tether runs without one: use a plugin mode that does not prompt"
            )
        command = cfg.resolved_command()
        found = command if os.sep in command else shutil.which(command)
        if not found or not os.path.exists(found):
            hint = f": {cfg.install_hint.strip()}" if cfg.install_hint else ""
            raise ExecCredentialError(f"exec plugin {cfg.command} not found{hint}")
        env = dict(os.environ)
        env.update(dict(cfg.env))
        env["KUBERNETES_EXEC_INFO"] = self._exec_info()
        self.runs += 1
        try:
            proc = subprocess.run(
                [found, *cfg.args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=env,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ExecCredentialError(
                f"exec plugin {cfg.command} gave no credential within {self.timeout:.0f}s"
            ) from exc
        except OSError as exc:
            raise ExecCredentialError(f"exec plugin {cfg.command}: {exc.strerror}") from exc
        if proc.returncode != 0:
            said = mask(proc.stderr.decode(errors="replace"), tuple(v for _, v in cfg.env))
            raise ExecCredentialError(
                f"exec plugin {cfg.command} failed (exit {proc.returncode})"
                + (f": {said}" if said else "")
            )
        return parse(proc.stdout, cfg)


def _write_pair(cert: bytes, key: bytes) -> tuple[str, str]:
    names = []
    for data, suffix in ((cert, ".crt"), (key, ".key")):
        handle, name = tempfile.mkstemp(prefix="tether-exec-", suffix=suffix)
        with os.fdopen(handle, "wb") as out:
            out.write(data if data.endswith(b"\n") else data + b"\n")
        names.append(name)
    return names[0], names[1]


class ExecAuth(httpx.Auth):
    """``Authorization: Bearer`` from an exec plugin; after a 401 the plugin runs
    again and the request is sent once more with the new token. The plugin runs
    in a worker thread so a slow one never stalls the event loop."""

    requires_request_body = True

    def __init__(self, source: ExecCredentials) -> None:
        self.source = source

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.source.token()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            fresh = self.source.token(force=True)
            if fresh and fresh != token:
                request.headers["Authorization"] = f"Bearer {fresh}"
                yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        # Only a run of the plugin goes to a worker thread, never the cached answer.
        held = self.source.cached()
        token = held.token if held is not None else await asyncio.to_thread(self.source.token)
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            fresh = await asyncio.to_thread(self.source.token, force=True)
            if fresh and fresh != token:
                request.headers["Authorization"] = f"Bearer {fresh}"
                yield request
