"""Turn a RegistryCredential spec (plus the Secret it references) into a token provider.

The controller reads the referenced Secret through the Kubernetes adapter and
hands its decoded data here, so this module needs no cluster access and the
mapping from spec fields to provider arguments is in one place. It asks the
registry policy again before building anything, so no caller can reach a
provider the administrator has not allowed, even one that skipped the
controller's own check.
"""

from __future__ import annotations

from collections.abc import Mapping

from tether.adapters.registry.exec_plugin import ExecProvider
from tether.adapters.registry.providers import (
    BasicProvider,
    Clock,
    EcrProvider,
    ProviderError,
    TokenProvider,
    utcnow,
)
from tether.engine.registry.policy import RegistryPolicy, refusal_message, refusals
from tether.engine.registry.spec import RegistryCredentialSpec

SecretData = Mapping[str, str | bytes]


def _text(data: SecretData, key: str) -> str | None:
    value = data.get(key)
    return value.decode() if isinstance(value, bytes) else value


def build_provider(
    spec: RegistryCredentialSpec,
    secret_data: SecretData | None = None,
    *,
    policy: RegistryPolicy,
    host: str | None = None,
    clock: Clock = utcnow,
) -> TokenProvider:
    """The provider for ``spec``; ``secret_data`` is the referenced Secret's decoded data.

    ``host`` is the concrete registry host being served (needed to derive the ECR
    region when ``spec.registry`` is a pattern). Raises ``ProviderError`` with
    reason ``PolicyRefused`` when ``policy`` (for the controller namespace
    ``policy.namespace``) does not allow ``spec``.
    """
    refused = refusals(spec, policy, policy.namespace)
    if refused:
        raise ProviderError("PolicyRefused", refusal_message(refused))
    provider = spec.provider
    if provider.type == "basic":
        if secret_data is None:
            raise ProviderError("BadSecret", "provider.basic.secretRef secret not found")
        return BasicProvider(secret_data, clock=clock)
    if provider.type == "exec":
        exe = provider.exec_
        assert exe is not None  # guaranteed by the spec validator
        return ExecProvider(
            exe.command,
            exe.args,
            {e.name: e.value for e in exe.env},
            image=exe.registry_host,
            timeout=exe.timeout,
            default_cache_duration=exe.default_cache_duration,
            clock=clock,
        )
    ecr = provider.ecr
    assert ecr is not None
    data = secret_data or {}
    if ecr.credentials_secret_ref is not None and not _text(data, "AWS_ACCESS_KEY_ID"):
        raise ProviderError(
            "BadSecret", "provider.ecr.credentialsSecretRef needs key AWS_ACCESS_KEY_ID"
        )
    return EcrProvider(
        spec.ecr_region(host),
        endpoint_url=ecr.endpoint_url,
        access_key_id=_text(data, "AWS_ACCESS_KEY_ID"),
        secret_access_key=_text(data, "AWS_SECRET_ACCESS_KEY"),
        session_token=_text(data, "AWS_SESSION_TOKEN"),
        role_arn=ecr.role_arn,
        web_identity_token_file=ecr.web_identity_token_file,
        clock=clock,
    )
