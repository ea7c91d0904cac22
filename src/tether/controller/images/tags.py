"""Tags and logins for image policies: which registry Secret, which listing, which digest.

A policy's login is a pull Secret in its own namespace (``secretRef``), or
the pull Secret a RegistryCredential writes there (``registryCredential``);
an ECR policy lists with the ECR API and AWS keys from a Secret in its own
namespace (or the controller's identity). Every failure is a ``ScanError``
whose reason becomes the policy's Ready condition.
"""

from __future__ import annotations

import asyncio
import base64
import binascii

from tether.adapters.kube import KubeClient
from tether.adapters.registry import tags as registry_tags
from tether.adapters.registry.build_times import BuildTimes
from tether.adapters.registry.providers import EcrProvider
from tether.engine.images import select
from tether.engine.images import spec as model

REGISTRY_CREDENTIAL_API = "tether.dev/v1alpha1"


class ScanError(Exception):
    """A scan stopped; ``reason`` is one word for the Ready condition, the message is safe."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class PolicyRegistry:
    """Registry access on behalf of policies, with the Secrets of their own namespace."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.build_times = BuildTimes()

    async def secret(self, namespace: str, name: str) -> dict[str, str]:
        """The decoded data of a Secret in ``namespace`` (the policy's own)."""
        secret = await self.kube.get_or_none("v1", "Secret", name, namespace)
        if secret is None:
            raise ScanError("SecretNotFound", f"Secret {namespace}/{name} not found")
        out = {}
        for key, value in (secret.get("data") or {}).items():
            try:
                out[str(key)] = base64.b64decode(str(value)).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue
        return out

    async def _creds(self, spec: model.ImagePolicySpec, namespace: str) -> tuple[str, str] | None:
        if spec.registry_credential is not None:
            name = await self._registry_credential_secret(spec.registry_credential)
        elif spec.secret_ref is not None:
            name = spec.secret_ref.name
        else:
            return None
        data = await self.secret(namespace, name)
        try:
            return registry_tags.creds_from_secret(data, spec.host)
        except registry_tags.TagListError as exc:
            raise ScanError(exc.reason, exc.message) from None

    async def _registry_credential_secret(self, name: str) -> str:
        """The pull Secret a RegistryCredential writes (its namespaces must include ours)."""
        credential = await self.kube.get_or_none(
            REGISTRY_CREDENTIAL_API, "RegistryCredential", name
        )
        if credential is None:
            raise ScanError("SecretNotFound", f"RegistryCredential {name} does not exist")
        secret = str((credential.get("spec") or {}).get("secretName") or "")
        if not secret:
            raise ScanError("SecretNotFound", f"RegistryCredential {name} names no secretName")
        return secret

    async def tags(self, spec: model.ImagePolicySpec, namespace: str) -> list[select.Tag]:
        try:
            if spec.ecr is not None:
                provider = await self._ecr(spec, namespace)
                return await asyncio.to_thread(
                    registry_tags.list_ecr_tags,
                    provider,
                    spec.host,
                    spec.repository,
                    spec.ecr.registry_id,
                )
            creds = await self._creds(spec, namespace)
            return await asyncio.to_thread(
                registry_tags.list_tags, spec.host, spec.repository, creds
            )
        except registry_tags.TagListError as exc:
            raise ScanError(exc.reason, exc.message) from None

    async def with_build_times(
        self, spec: model.ImagePolicySpec, namespace: str, tags: list[select.Tag]
    ) -> list[select.Tag]:
        """``tags`` with the build time of their images (pushTime on a v2 registry)."""
        creds = await self._creds(spec, namespace)
        try:
            return await asyncio.to_thread(
                self.build_times.annotate, spec.host, spec.repository, tags, creds
            )
        except registry_tags.TagListError as exc:
            raise ScanError(exc.reason, exc.message) from None

    async def _ecr(self, spec: model.ImagePolicySpec, namespace: str) -> EcrProvider:
        assert spec.ecr is not None
        keys: dict[str, str] = {}
        if spec.ecr.credentials_secret_ref is not None:
            keys = await self.secret(namespace, spec.ecr.credentials_secret_ref.name)
        return EcrProvider(
            spec.ecr.region,
            endpoint_url=spec.ecr.endpoint_url,
            access_key_id=keys.get("AWS_ACCESS_KEY_ID"),
            secret_access_key=keys.get("AWS_SECRET_ACCESS_KEY"),
            session_token=keys.get("AWS_SESSION_TOKEN"),
        )

    async def digest(self, spec: model.ImagePolicySpec, namespace: str, tag: str) -> str:
        creds = await self._creds(spec, namespace)
        try:
            return await asyncio.to_thread(
                registry_tags.tag_digest, spec.host, spec.repository, tag, creds
            )
        except registry_tags.TagListError as exc:
            raise ScanError(exc.reason, exc.message) from None
