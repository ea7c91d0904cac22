"""What one RegistryCredential pass reads from the cluster, and what the loop remembers.

Split from the loop in ``registry.py``: a pass reads every input once (live
Namespaces, the namespaces Applications deploy to, our managed pull Secrets,
and the administrator's registry policy) so all credentials are judged
against the same snapshot, and an API error in one read fails the whole pass
instead of half-applying it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tether.adapters.kube import ApiError, KubeClient
from tether.controller.registry import writes as writes
from tether.engine import application as appmodel
from tether.engine.registry.policy import RegistryPolicy


@dataclass
class Memory:
    """Per-credential scheduling state; lost on restart (then everything refreshes once)."""

    fingerprint: tuple[object, ...] = ()
    next_at: datetime | None = None
    attempt: int = 0
    last_error_event: str = ""
    warned: bool = False
    config_error: tuple[str, str] | None = None  # from the last refresh, until one succeeds


@dataclass
class Pass:
    """What one pass read from the cluster, shared by all credentials."""

    now: datetime
    namespaces: dict[str, dict[str, str]]  # live, not terminating: name -> labels
    app_namespaces: set[str]
    policy: RegistryPolicy
    managed: dict[str, dict[str, Any]] = field(default_factory=dict)  # owner -> ns -> Secret


async def read_pass(
    kube: KubeClient,
    creds: list[dict[str, Any]],
    app_namespace: str,
    policy: RegistryPolicy,
    now: datetime,
) -> Pass:
    ns_api = await kube.resource_for("v1", "Namespace")
    ns_items, _ = await kube.list(ns_api)
    namespaces = {
        str(n["metadata"]["name"]): dict(n["metadata"].get("labels") or {})
        for n in ns_items
        if not n["metadata"].get("deletionTimestamp")
    }
    wants_apps = any(
        ((c.get("spec") or {}).get("namespaces") or {}).get("fromApplications") for c in creds
    )
    app_namespaces = await _app_namespaces(kube, app_namespace) if wants_apps else set()
    ctx = Pass(now, namespaces, app_namespaces, policy)
    secret_api = await kube.resource_for("v1", "Secret")
    managed, _ = await kube.list(secret_api, label_selector=writes.managed_selector())
    for secret in managed:
        ns = str(secret["metadata"].get("namespace", ""))
        ctx.managed.setdefault(writes.owner_of(secret), {})[ns] = secret
    return ctx


async def _app_namespaces(kube: KubeClient, app_namespace: str) -> set[str]:
    try:
        api = await kube.resource_for(appmodel.API_VERSION, appmodel.KIND)
        apps, _ = await kube.list(api, app_namespace)
    except ApiError:
        return set()
    return {
        str(((a.get("spec") or {}).get("destination") or {}).get("namespace") or "") for a in apps
    } - {""}
