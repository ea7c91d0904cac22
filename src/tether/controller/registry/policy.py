"""Reading the administrator's registry policy (ConfigMap ``tether-registry-policy``).

The rules themselves are pure (``tether.engine.registry.policy``); this module
only fetches the ConfigMap from the controller's namespace once per pass and
fails closed: a ConfigMap that cannot be read counts as absent, so an API
error never widens what a RegistryCredential may do. Broken entries are logged
once per ConfigMap version (they are the administrator's, not secret).
"""

from __future__ import annotations

import logging

from tether.adapters.kube import ApiError, KubeClient
from tether.engine.registry.policy import POLICY_CONFIGMAP, RegistryPolicy, policy_from_configmap

log = logging.getLogger(__name__)


class PolicySource:
    """Loads the policy for one controller namespace; remembers what it already logged."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self._logged_version: str | None = None

    async def load(self) -> RegistryPolicy:
        try:
            configmap = await self.kube.get_or_none(
                "v1", "ConfigMap", POLICY_CONFIGMAP, self.namespace
            )
        except ApiError as exc:
            log.warning("registry policy not read (%s); nothing is allowed this pass", exc)
            return RegistryPolicy(namespace=self.namespace)
        policy = policy_from_configmap(configmap, self.namespace)
        version = str(((configmap or {}).get("metadata") or {}).get("resourceVersion", ""))
        if version != self._logged_version:
            self._logged_version = version
            if policy.ignored_because:
                log.warning("%s is ignored: %s", policy.where, policy.ignored_because)
            for problem in policy.problems:
                log.warning("%s: entry skipped: %s", policy.where, problem)
        return policy
