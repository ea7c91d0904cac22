"""Custom health rules from the ConfigMap ``tether-health-rules``.

Each data key of the ConfigMap (in the Applications' namespace) holds a YAML
rule set (see ``tether.engine.health.rules``). The ConfigMap is read at most
every few seconds; a broken key is reported and skipped while the others
keep working, so a typo in one team's rule cannot blind every app.
"""

from __future__ import annotations

import logging
import time

from tether.adapters.kube import ApiError, KubeClient
from tether.engine.health import HealthRuleError, HealthRules, load_rules

log = logging.getLogger(__name__)
CONFIGMAP = "tether-health-rules"
TTL = 5.0


class HealthRuleSource:
    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self._loaded_at = -1e9
        self._version = ""
        self._rules: HealthRules | None = None
        self.errors: dict[str, str] = {}

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
                merged = merged.merged(load_rules(text, f"ConfigMap {CONFIGMAP} key {key}"))
            except HealthRuleError as exc:
                errors[key] = str(exc)
                log.warning("%s", exc)
        self.errors = errors
        self._rules = merged if merged.by_kind else None
        return self._rules
