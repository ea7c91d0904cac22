"""Argo CD's cluster ``config`` JSON, from a kubeconfig context and to a connection.

``from_kubeconfig`` reads one context of a kubeconfig into the JSON a cluster
Secret stores (files are read into ``*Data`` fields, so the Secret does not
depend on the machine it was made on). ``connection`` turns that JSON back into
the settings the kube client connects with.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from tether.adapters.kube import config as kubeconfig
from tether.adapters.kube.exec_credentials import (
    ClusterInfo,
    ExecConfig,
    ExecCredentialError,
    ExecCredentials,
)


def _data(obj: dict[str, Any], key: str, base: Path) -> str | None:
    if obj.get(f"{key}-data"):
        return str(obj[f"{key}-data"])
    if obj.get(key):
        try:
            return base64.b64encode((base / obj[key]).read_bytes()).decode()
        except OSError as exc:
            raise kubeconfig.ConfigError(f"cannot read {obj[key]}: {exc.strerror}") from exc
    return None


def from_kubeconfig(path: str, context: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(server, config)`` for one context of the kubeconfig at ``path``."""
    try:
        doc: dict[str, Any] = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise kubeconfig.ConfigError(f"cannot read kubeconfig {path}: {exc.strerror}") from exc
    base = Path(path).parent
    ctx_name = context or doc.get("current-context")
    contexts = {c["name"]: c.get("context", {}) for c in doc.get("contexts") or []}
    if ctx_name not in contexts:
        raise kubeconfig.ConfigError(f"kubeconfig {path}: context {ctx_name!r} not found")
    ctx = contexts[ctx_name]
    clusters = {c["name"]: c.get("cluster", {}) for c in doc.get("clusters") or []}
    users = {u["name"]: u.get("user", {}) for u in doc.get("users") or []}
    cluster = clusters.get(ctx.get("cluster"), {})
    user = users.get(ctx.get("user"), {})
    server = str(cluster.get("server", "")).rstrip("/")
    if not server:
        raise kubeconfig.ConfigError(f"kubeconfig {path}: context {ctx_name!r} has no server")
    tls: dict[str, Any] = {"insecure": bool(cluster.get("insecure-skip-tls-verify"))}
    for key, name in (
        ("caData", _data(cluster, "certificate-authority", base)),
        ("certData", _data(user, "client-certificate", base)),
        ("keyData", _data(user, "client-key", base)),
        ("serverName", cluster.get("tls-server-name")),
    ):
        if name:
            tls[key] = name
    config: dict[str, Any] = {"tlsClientConfig": tls}
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = (base / user["tokenFile"]).read_text().strip()
    if token:
        config["bearerToken"] = token
    if user.get("exec"):
        try:
            config["execProviderConfig"] = ExecConfig.from_kubeconfig(
                user["exec"], str(base)
            ).to_argocd()
        except ExecCredentialError as exc:
            raise kubeconfig.ConfigError(f"kubeconfig {path}: {exc}") from exc
    if cluster.get("proxy-url"):
        config["proxyUrl"] = cluster["proxy-url"]
    return server, config


def _materialise(b64: str | None, suffix: str) -> str | None:
    if not b64:
        return None
    return kubeconfig._materialise(b64, suffix)


def connection(server: str, config: dict[str, Any]) -> kubeconfig.ConnectionConfig:
    """Connection settings for a cluster Secret's ``server`` and ``config``."""
    tls = config.get("tlsClientConfig") or {}
    exec_credentials = None
    if config.get("execProviderConfig"):
        try:
            exec_cfg = ExecConfig.from_argocd(config["execProviderConfig"])
        except ExecCredentialError as exc:
            raise kubeconfig.ConfigError(f"cluster {server}: {exc}") from exc
        info = ClusterInfo(
            server=server,
            ca_data=tls.get("caData"),
            insecure=bool(tls.get("insecure")),
            server_name=tls.get("serverName"),
        )
        exec_credentials = ExecCredentials(exec_cfg, info)
    return kubeconfig.ConnectionConfig(
        server=server.rstrip("/"),
        ca_file=_materialise(tls.get("caData"), ".crt"),
        token=config.get("bearerToken") or None,
        cert_file=_materialise(tls.get("certData"), ".crt"),
        key_file=_materialise(tls.get("keyData"), ".key"),
        insecure=bool(tls.get("insecure")),
        namespace="default",
        exec_credentials=exec_credentials,
        server_name=tls.get("serverName") or None,
        proxy_url=config.get("proxyUrl") or None,
    )
