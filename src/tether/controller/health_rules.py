"""Custom health rules and Argo CD Lua health checks from ``tether-health-rules``.

Each data key of the ConfigMap (in the Applications' namespace) holds either
a YAML rule set in CEL (see ``tether.engine.health.rules``) or, when the key
is named as in Argo CD's ``argocd-cm`` (``resource.customizations`` or
``resource.customizations.health.<group>_<kind>``), Argo CD Lua health
checks, unchanged (see ``tether.engine.health.lua``): people moving from
Argo CD copy those keys over. Keys apply in name order, a later key winning
for a kind it shares with an earlier one.

The ConfigMap is read at most every few seconds; a broken key is reported and
skipped while the others keep working, so a typo in one team's rule cannot
blind every app. A script that fails or runs away while judging an object is
reported under its key in the same way, until the ConfigMap changes.
"""

from __future__ import annotations

import logging
import time

from tether.adapters.kube import ApiError, KubeClient
from tether.engine.health import HealthRuleError, HealthRules, load_rules
from tether.engine.health.lua import is_argocd_key, load_argocd_health

log = logging.getLogger(__name__)
CONFIGMAP = "tether-health-rules"
TTL = 5.0


def load_key(key: str, text: str) -> HealthRules:
    if is_argocd_key(key):
        return load_argocd_health({key: text}, f"ConfigMap {CONFIGMAP}")
    return load_rules(text, f"ConfigMap {CONFIGMAP} key {key}")


class HealthRuleSource:
    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self._loaded_at = -1e9
        self._version = ""
        self._rules: HealthRules | None = None
        self._load_errors: dict[str, str] = {}

    @property
    def errors(self) -> dict[str, str]:
        """Per key: why it did not load, or why its check failed while judging an object."""
        running = self._rules.failures if self._rules is not None else {}
        return {**self._load_errors, **running}

    async def rules(self) -> HealthRules | None:
        if time.monotonic() - self._loaded_at < TTL:
            return self._rules
        self._loaded_at = time.monotonic()
        try:
            cm = await self.kube.get_or_none("v1", "ConfigMap", CONFIGMAP, self.namespace)
        except ApiError as exc:
            log.warning("health rules not read: %s", exc)
            return self._rules
        version = str((cm or {}).get("metadata", {}).get("resourceVersion", ""))
        if version == self._version:
            return self._rules
        self._version = version
        merged = HealthRules()
        errors: dict[str, str] = {}
        for key, text in sorted(((cm or {}).get("data") or {}).items()):
            try:
                merged = merged.merged(load_key(key, text))
            except HealthRuleError as exc:
                errors[key] = str(exc)
                log.warning("%s", exc)
        self._load_errors = errors
        self._rules = merged if merged.by_kind else None
        return self._rules
