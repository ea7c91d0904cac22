"""Connection settings from a kubeconfig file or the in-cluster ServiceAccount.

Supports what Tether's users run it with: bearer tokens (inline, or from a
file that is read again when it changes, as the in-cluster ServiceAccount
token is rotated), client certificates, a CA bundle, the current or a named context,
and exec credential plugins (``client.authentication.k8s.io/v1`` and ``v1beta1``,
as EKS and GKE kubeconfigs use: see ``exec_credentials``).
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

from tether.adapters.kube.exec_credentials import (
    ClusterInfo,
    ExecConfig,
    ExecCredentialError,
    ExecCredentials,
)

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
    # A kubeconfig exec plugin that hands out the token or client certificate.
    exec_credentials: ExecCredentials | None = None
    # The name to check the server's certificate against (and send as SNI)
    # when it differs from the server URL's host.
    server_name: str | None = None
    proxy_url: str | None = None

    def ssl_context(self) -> ssl.SSLContext | bool:
        if self.insecure and not (self.cert_file or self.exec_credentials):
            return False
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file and self.key_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        elif self.exec_credentials is not None:
            self._exec_certificate(ctx, self.exec_credentials)
        return ctx

    @staticmethod
    def _exec_certificate(ctx: ssl.SSLContext, source: ExecCredentials) -> None:
        """Present the plugin's client certificate, if it gives one, and the next
        one after it expires (new connections use the reloaded chain)."""

        def reload(cred: object) -> None:
            files = getattr(cred, "files", None)
            if files:
                ctx.load_cert_chain(files[0], files[1])

        try:
            first = source.credential()
        except ExecCredentialError:
            return  # the first request runs the plugin again and reports why
        source.on_new_certificate(reload)
        reload(first)


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
    base = Path(candidate).parent
    server = str(cluster.get("server", "")).rstrip("/")
    exec_credentials = None
    if user.get("exec"):
        try:
            exec_cfg = ExecConfig.from_kubeconfig(user["exec"], str(base))
        except ExecCredentialError as exc:
            raise ConfigError(f"kubeconfig {candidate}: {exc}") from exc
        ca_data = cluster.get("certificate-authority-data")
        if not ca_data and cluster.get("certificate-authority"):
            try:
                raw = (base / cluster["certificate-authority"]).read_bytes()
            except OSError:
                raw = b""
            ca_data = base64.b64encode(raw).decode() if raw else None
        info = ClusterInfo(
            server=server,
            ca_data=ca_data,
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
            server_name=cluster.get("tls-server-name"),
        )
        exec_credentials = ExecCredentials(exec_cfg, info)

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
        server=server,
        ca_file=file_or_data(cluster, "certificate-authority", ".crt"),
        token=token,
        cert_file=file_or_data(user, "client-certificate", ".crt"),
        key_file=file_or_data(user, "client-key", ".key"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        namespace=str(ctx.get("namespace") or "default"),
        token_file=token_file,
        exec_credentials=exec_credentials,
        server_name=cluster.get("tls-server-name") or None,
        proxy_url=cluster.get("proxy-url") or None,
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
