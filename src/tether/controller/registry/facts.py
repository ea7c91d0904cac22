"""RegistryCredential statuses as facts the diagnosis can cite (never credential values)."""

from __future__ import annotations

from tether.engine import diagnosis
from tether.engine.objects import Obj, parse_time


def facts_from(credentials: list[Obj]) -> list[diagnosis.CredentialFact]:
    out = []
    for cred in credentials:
        spec = cred.get("spec") or {}
        status = cred.get("status") or {}
        for ns_status in status.get("namespaces") or []:
            out.append(
                diagnosis.CredentialFact(
                    registry_pattern=str(spec.get("registry", "")),
                    secret_name=str(spec.get("secretName", "")),
                    namespace=str(ns_status.get("namespace", "")),
                    expires_at=parse_time(ns_status.get("expiresAt")),
                    last_error=str(ns_status.get("lastError") or ""),
                    last_error_since=parse_time(ns_status.get("lastErrorSince")),
                    managed_by=str(cred["metadata"]["name"]),
                )
            )
    return out
