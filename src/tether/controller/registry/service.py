"""RegistryCredentials as the API and CLI show them: state and a live check, never values."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from tether.adapters.kube import ApiError, KubeClient
from tether.adapters.registry.check import check_registry
from tether.controller.registry.policy import PolicySource

GROUP_VERSION = "tether.dev/v1alpha1"
KIND = "RegistryCredential"


def summary(cred: dict[str, Any]) -> dict[str, Any]:
    spec = cred.get("spec") or {}
    status = cred.get("status") or {}
    namespaces = [
        {
            "namespace": ns.get("namespace", ""),
            "secretName": spec.get("secretName", ""),
            "expiresAt": ns.get("expiresAt"),
            "lastRefresh": ns.get("lastRefresh"),
            "lastError": ns.get("lastError") or "",
            "ready": any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in ns.get("conditions") or []
            )
            or bool(ns.get("ready")),
        }
        for ns in status.get("namespaces") or []
    ]
    expiries = [n["expiresAt"] for n in namespaces if n["expiresAt"]]
    errors = [n["lastError"] for n in namespaces if n["lastError"]]
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    return {
        "name": cred["metadata"]["name"],
        "registry": spec.get("registry", ""),
        "provider": (spec.get("provider") or {}).get("type", ""),
        "secretName": spec.get("secretName", ""),
        "namespaces": namespaces,
        "expiresAt": min(expiries) if expiries else None,
        "lastRefresh": max((n["lastRefresh"] or "" for n in namespaces), default=None) or None,
        "lastError": errors[0]
        if errors
        else (
            conds.get("Ready", {}).get("message", "")
            if conds.get("Ready", {}).get("status") == "False"
            else ""
        ),
        "ready": conds.get("Ready", {}).get("status") == "True",
    }


class RegistryApi:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube

    async def _all(self) -> list[dict[str, Any]]:
        try:
            api = await self.kube.resource_for(GROUP_VERSION, KIND)
        except ApiError:
            return []
        items, _ = await self.kube.list(api)
        return items

    async def list(self) -> list[dict[str, Any]]:
        return [summary(c) for c in sorted(await self._all(), key=lambda c: c["metadata"]["name"])]

    async def policy(self, namespace: str) -> dict[str, Any]:
        """What the administrator's registry policy allows (paths and URL prefixes, no secrets)."""
        policy = await PolicySource(self.kube, namespace).load()
        return {
            "configMap": policy.where,
            "exists": policy.exists,
            "ignored": policy.ignored_because,
            "execCommands": sorted(policy.exec_commands),
            "execEnv": list(policy.exec_env),
            "endpointURLs": list(policy.endpoint_urls),
            "tokenFiles": sorted(policy.token_files),
            "problems": list(policy.problems),
        }

    async def check(self, name: str) -> dict[str, Any]:
        cred = next((c for c in await self._all() if c["metadata"]["name"] == name), None)
        if cred is None:
            raise LookupError(f"registry credential {name!r} not found")
        info = summary(cred)
        if not info["namespaces"]:
            return {"name": name, "ok": False, "message": "no Secret written yet"}
        ns = info["namespaces"][0]["namespace"]
        secret = await self.kube.get_or_none("v1", "Secret", info["secretName"], ns)
        if secret is None:
            return {
                "name": name,
                "ok": False,
                "message": f"Secret {ns}/{info['secretName']} does not exist",
            }
        raw = base64.b64decode((secret.get("data") or {}).get(".dockerconfigjson", ""))
        auths = json.loads(raw or b"{}").get("auths") or {}
        if not auths:
            return {"name": name, "ok": False, "message": "the Secret holds no registry entry"}
        host, entry = next(iter(auths.items()))
        user, _, password = base64.b64decode(entry.get("auth", "")).decode().partition(":")
        result = await asyncio.to_thread(check_registry, host, user, password)
        return {
            "name": name,
            "registry": host,
            "ok": result.ok,
            "statusCode": result.status_code,
            "message": result.message,
        }
