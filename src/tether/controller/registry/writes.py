"""What the RegistryCredential reconciler writes: pull Secrets, ServiceAccounts, Events, metrics.

Split from the loop in ``registry.py`` so the rules about *how* a pull Secret is
written stay in one place: it is labelled as ours and never as an Application's
(the GitOps engine must not diff or prune it), it is owned by its
RegistryCredential (garbage-collected with it), and a Secret that belongs to an
Application from Git or has another type is refused with a clear error instead
of being fought over. Nothing here ever logs or records a credential value.
"""

from __future__ import annotations

import contextlib
import logging

from prometheus_client import CollectorRegistry, Counter, Gauge

from tether.adapters.kube import KubeClient
from tether.adapters.kube import events as kube_events
from tether.adapters.registry.objects import MANAGED_BY_LABEL, SECRET_TYPE, pull_secret
from tether.adapters.registry.objects import with_pull_secret as sa_with_pull_secret
from tether.engine.application import INSTANCE_LABEL
from tether.engine.objects import Obj

log = logging.getLogger(__name__)

GROUP_VERSION = "tether.dev/v1alpha1"
KIND = "RegistryCredential"
FIELD_MANAGER = "tether-registry-credential"
MANAGED_BY = "tether.dev/managed-by"
MANAGED_BY_VALUE = "registry-credential"
OWNER_LABEL = MANAGED_BY_LABEL  # tether.dev/registry-credential: <RegistryCredential name>
EVENT_NAMESPACE = "default"  # Events about cluster-scoped objects live in "default"


class WriteRefused(Exception):
    """The pull Secret cannot be written in this namespace; the message says why."""


def managed_selector() -> str:
    return f"{MANAGED_BY}={MANAGED_BY_VALUE}"


def owner_of(secret: Obj) -> str:
    return str(((secret.get("metadata") or {}).get("labels") or {}).get(OWNER_LABEL, ""))


def desired_secret(cred: Obj, name: str, namespace: str, config: bytes) -> Obj:
    """The pull Secret: our labels, owned by the RegistryCredential, no app instance label."""
    meta = cred["metadata"]
    body = pull_secret(name, namespace, str(meta["name"]), config)
    body["metadata"]["labels"][MANAGED_BY] = MANAGED_BY_VALUE
    assert INSTANCE_LABEL not in body["metadata"]["labels"]
    if meta.get("uid"):
        body["metadata"]["ownerReferences"] = [
            {"apiVersion": GROUP_VERSION, "kind": KIND, "name": meta["name"], "uid": meta["uid"]}
        ]
    return body


async def write_secret(kube: KubeClient, body: Obj, existing: Obj | None) -> None:
    """Server-side apply the pull Secret, refusing Secrets that are not ours to take over."""
    meta = body["metadata"]
    where = f"Secret {meta['namespace']}/{meta['name']}"
    if existing is not None:
        labels = (existing.get("metadata") or {}).get("labels") or {}
        app = labels.get(INSTANCE_LABEL)
        if app:
            raise WriteRefused(
                f"{where} belongs to Application {app} (deployed from Git); remove it from Git "
                "or choose another secretName"
            )
        if existing.get("type", "Opaque") != SECRET_TYPE:
            raise WriteRefused(
                f"{where} exists with type {existing.get('type', 'Opaque')}, not {SECRET_TYPE}; "
                "delete it or choose another secretName"
            )
    await kube.apply(body, field_manager=FIELD_MANAGER, force=True)


async def patch_service_accounts(
    kube: KubeClient, namespace: str, names: list[str], secret_name: str
) -> list[str]:
    """Add ``secret_name`` to each ServiceAccount's imagePullSecrets; returns those missing."""
    missing = []
    for name in names:
        sa = await kube.get_or_none("v1", "ServiceAccount", name, namespace)
        if sa is None:
            missing.append(name)
            continue
        patched = sa_with_pull_secret(sa, secret_name)
        if patched is not None:
            await kube.merge_patch(
                "v1",
                "ServiceAccount",
                name,
                {"imagePullSecrets": patched["imagePullSecrets"]},
                namespace,
            )
    return missing


async def record_event(
    kube: KubeClient, cred: Obj, reason: str, message: str, *, warning: bool = True
) -> None:
    """A Kubernetes Event on the (cluster-scoped) RegistryCredential; message already redacted."""
    event = kube_events.event_for(
        cred,
        reason,
        message,
        component="tether-registry-credentials",
        warning=warning,
        namespace=EVENT_NAMESPACE,
    )
    await kube_events.record(kube, event)


class RegistryMetrics:
    """Prometheus series: seconds until expiry per credential/registry, refreshes, failures."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["credential", "registry"]
        self.expiry = Gauge(
            "tether_registry_credential_expiry_seconds",
            "Seconds until the earliest pull credential written for this RegistryCredential "
            "expires (negative once expired; absent for credentials that do not expire).",
            labels,
            registry=registry,
        )
        self.refreshes = Counter(
            "tether_registry_credential_refreshes",
            "Successful token refreshes.",
            labels,
            registry=registry,
        )
        self.failures = Counter(
            "tether_registry_credential_refresh_failures",
            "Failed token refreshes, by reason (AccessDenied, Timeout, SecretNotFound, ...).",
            [*labels, "reason"],
            registry=registry,
        )

    def set_expiry(self, credential: str, registry: str, seconds: float | None) -> None:
        if seconds is None:
            self.forget_expiry(credential, registry)
        else:
            self.expiry.labels(credential, registry).set(seconds)

    def forget_expiry(self, credential: str, registry: str) -> None:
        with contextlib.suppress(KeyError):
            self.expiry.remove(credential, registry)
