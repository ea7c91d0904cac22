"""Connection settings from a kubeconfig file or the in-cluster ServiceAccount.

Supports what Tether's users run it with: bearer tokens (inline, or from a
file that is read again when it changes, as the in-cluster ServiceAccount
token is rotated), client certificates, a CA bundle, the current or a named context. Exec credential
plugins are not supported yet (clear error).
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(RuntimeError):
    pass


@dataclass(frozen=True)
class ConnectionConfig:
    server: str
    ca_file: str | None
    token: str | None
    cert_file: str | None
    key_file: str | None
    insecure: bool
    namespace: str
    # Where ``token`` came from: the client reads it again when it changes
    # (a projected ServiceAccount token is rotated by the kubelet).
    token_file: str | None = None

    def ssl_context(self) -> ssl.SSLContext | bool:
        if self.insecure:
            return False
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file and self.key_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def _materialise(data_b64: str, suffix: str) -> str:
    handle, name = tempfile.mkstemp(prefix="tether-kube-", suffix=suffix)
    with os.fdopen(handle, "wb") as out:
        out.write(base64.b64decode(data_b64))
    return name


def load(path: str | None = None, context: str | None = None) -> ConnectionConfig:
    candidate = path or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
    if candidate is None:
        default = Path.home() / ".kube" / "config"
        if default.exists():
            candidate = str(default)
        elif (SA_DIR / "token").exists():
            return _in_cluster()
        else:
            raise ConfigError("no kubeconfig: set KUBECONFIG or pass --kubeconfig")
    try:
        doc: dict[str, Any] = yaml.safe_load(Path(candidate).read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {candidate}: {exc.strerror}") from exc
    ctx_name = context or doc.get("current-context")
    contexts = {c["name"]: c.get("context", {}) for c in doc.get("contexts") or []}
    if ctx_name not in contexts:
        raise ConfigError(f"kubeconfig {candidate}: context {ctx_name!r} not found")
    ctx = contexts[ctx_name]
    clusters = {c["name"]: c.get("cluster", {}) for c in doc.get("clusters") or []}
    users = {u["name"]: u.get("user", {}) for u in doc.get("users") or []}
    cluster = clusters.get(ctx.get("cluster"), {})
    user = users.get(ctx.get("user"), {})
    if "exec" in user:
        raise ConfigError(f"kubeconfig {candidate}: exec credential plugins are not supported yet")
    base = Path(candidate).parent

    def file_or_data(obj: dict[str, Any], key: str, suffix: str) -> str | None:
        if obj.get(f"{key}-data"):
            return _materialise(obj[f"{key}-data"], suffix)
        if obj.get(key):
            return str(base / obj[key])
        return None

    token = user.get("token")
    token_file = None
    if not token and user.get("tokenFile"):
        token_file = str(base / user["tokenFile"])
        token = Path(token_file).read_text().strip()
    return ConnectionConfig(
        server=str(cluster.get("server", "")).rstrip("/"),
        ca_file=file_or_data(cluster, "certificate-authority", ".crt"),
        token=token,
        cert_file=file_or_data(user, "client-certificate", ".crt"),
        key_file=file_or_data(user, "client-key", ".key"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        namespace=str(ctx.get("namespace") or "default"),
        token_file=token_file,
    )


def _in_cluster() -> ConnectionConfig:
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    return ConnectionConfig(
        server=f"https://{host}:{port}",
        ca_file=str(SA_DIR / "ca.crt"),
        token=(SA_DIR / "token").read_text().strip(),
        cert_file=None,
        key_file=None,
        insecure=False,
        namespace=(SA_DIR / "namespace").read_text().strip(),
        token_file=str(SA_DIR / "token"),
    )
