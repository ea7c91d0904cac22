"""The RegistryCredential reconciler on the real control plane, with each real provider.

basic (a Secret, checked against the real docker-registry), ECR (moto_server over
HTTP) and exec (the kubelet plugin fixture) each end with a pull Secret in the
selected namespaces. Then: refresh at half-life, a failing provider that keeps
the old Secret and warns, bad configuration, and secrecy throughout.
"""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from fixtures.moto_ecr import ACCOUNT, MotoServer
from fixtures.registry import CONTROLLER_NS, RegCreds, RegistryPolicyMap, RegistryServer, condition
from fixtures.waiting import await_for
from tether.adapters.kube import ApiError, KubeClient
from tether.adapters.registry.pull import pull_manifest
from tether.controller.registry.reconciler import RegistryCredentialReconciler
from tether.engine.objects import parse_time

PLUGIN = Path(__file__).parents[2] / "fixtures" / "kubelet_plugin.py"
ECR_HOST = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"


async def _ns_status(regcreds: RegCreds, name: str, ns: str) -> dict[str, Any] | None:
    st = await regcreds.status(name)
    return next((n for n in st.get("namespaces") or [] if n["namespace"] == ns), None)


async def _refreshed(regcreds: RegCreds, name: str, ns: str) -> dict[str, Any] | None:
    found = await _ns_status(regcreds, name, ns)
    return found if found and found.get("lastRefresh") and not found.get("lastError") else None


def _no_secret_in(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
        assert base64.b64encode(secret.encode()).decode() not in text


async def test_basic_provider_writes_a_working_pull_secret_and_patches_service_accounts(
    regcreds: RegCreds,
    reconciler: RegistryCredentialReconciler,
    registry_server: RegistryServer,
    kube: KubeClient,
    namespace: str,
) -> None:
    user, password = registry_server.add_user(f"basic-{namespace}")
    await kube.merge_patch("v1", "Namespace", namespace, {"metadata": {"labels": {"pulls": "x"}}})
    login = f"login-{namespace}"
    await regcreds.secret(CONTROLLER_NS, login, {"username": user, "password": password})
    name = f"basic-{namespace}"
    await regcreds.create(
        name,
        {
            "registry": registry_server.host,
            "provider": {"type": "basic", "basic": {"secretRef": {"name": login}}},
            "secretName": "regcred",
            "namespaces": {"selector": {"matchLabels": {"pulls": "x"}}},
            "serviceAccounts": ["default"],
        },
    )
    await await_for(lambda: _refreshed(regcreds, name, namespace), what="Secret written")

    secret = await kube.get("v1", "Secret", "regcred", namespace)
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    labels = secret["metadata"]["labels"]
    assert labels["tether.dev/managed-by"] == "registry-credential"
    assert labels["tether.dev/registry-credential"] == name
    assert "app.tether.dev/instance" not in labels
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "RegistryCredential"
    auths = await regcreds.pull_auths(namespace, "regcred")
    creds = {k: (v["username"], v["password"]) for k, v in auths.items()}
    result = pull_manifest(registry_server.host, f"{registry_server.host}/finance-api:1.4", creds)
    assert result.ok, result.message

    sa = await kube.get("v1", "ServiceAccount", "default", namespace)
    assert {"name": "regcred"} in sa["imagePullSecrets"]

    st = await regcreds.status(name)
    assert condition(st, "Ready")["status"] == "True"
    assert st["provider"] == "basic" and "expiresAt" not in st  # basic logins do not expire
    _no_secret_in(json.dumps(st), password)
    metrics = generate_latest(reconciler.metrics_registry).decode()
    assert f'tether_registry_credential_refreshes_total{{credential="{name}"' in metrics
    _no_secret_in(metrics, password)


async def test_ecr_provider_via_moto_writes_the_aws_login(
    regcreds: RegCreds,
    reconciler: RegistryCredentialReconciler,
    registry_policy: RegistryPolicyMap,
    moto_ecr: MotoServer,
    namespace: str,
) -> None:
    await registry_policy.set(endpointURLs=[moto_ecr.url])
    keys = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret-key"}
    await regcreds.secret(CONTROLLER_NS, f"aws-{namespace}", keys)
    name = f"ecr-{namespace}"
    await regcreds.create(
        name,
        {
            "registry": ECR_HOST,
            "provider": {
                "type": "ecr",
                "ecr": {
                    "endpointURL": moto_ecr.url,
                    "credentialsSecretRef": {"name": f"aws-{namespace}", "namespace": "tether"},
                },
            },
            "secretName": "ecr-pull",
            "namespaces": {"names": [namespace]},
        },
    )
    st = await await_for(lambda: _refreshed(regcreds, name, namespace), what="ECR Secret written")
    auths = await regcreds.pull_auths(namespace, "ecr-pull")
    assert auths[ECR_HOST]["username"] == "AWS"
    assert auths[ECR_HOST]["password"] == f"{ACCOUNT}-auth-token"
    assert st["expiresAt"].startswith("2015-01-01")  # moto's fixed expiresAt, echoed honestly
    full = await regcreds.get(name)
    _no_secret_in(json.dumps(full["status"]), f"{ACCOUNT}-auth-token", "testing-secret-key")


async def _allow_plugin(policy: RegistryPolicyMap) -> None:
    await policy.set(execCommands=[str(PLUGIN)], execEnv=["PLUGIN_*"])


async def test_exec_provider_refreshes_around_half_life(
    regcreds: RegCreds,
    reconciler: RegistryCredentialReconciler,
    registry_policy: RegistryPolicyMap,
    namespace: str,
) -> None:
    await _allow_plugin(registry_policy)
    name = f"exec-{namespace}"
    await regcreds.create(
        name,
        {
            "registry": "registry.example.com",
            "provider": {
                "type": "exec",
                "exec": {
                    "command": str(PLUGIN),
                    "env": [
                        {"name": "PLUGIN_CACHE_DURATION", "value": "4s"},
                        {"name": "PLUGIN_PASSWORD", "value": "exec-password-xyz"},
                    ],
                },
            },
            "secretName": "exec-pull",
            "namespaces": {"names": [namespace]},
            "refresh": {"minInterval": "1s"},
        },
    )
    seen: list[tuple[str, str]] = []

    async def three_refreshes() -> bool:
        ns = await _ns_status(regcreds, name, namespace)
        if ns and ns.get("lastRefresh") and (not seen or seen[-1][0] != ns["lastRefresh"]):
            seen.append((ns["lastRefresh"], ns["expiresAt"]))
        return len(seen) >= 3

    await await_for(three_refreshes, timeout=30, what="three refreshes")
    auths = await regcreds.pull_auths(namespace, "exec-pull")
    assert auths["registry.example.com"]["password"] == "exec-password-xyz"
    times = [(parse_time(r), parse_time(e)) for r, e in seen]
    for (refreshed, expires), (next_refresh, _) in itertools.pairwise(times):
        assert refreshed and expires and next_refresh
        lifetime = (expires - refreshed).total_seconds()
        assert 3.5 <= lifetime <= 4.5
        gap = (next_refresh - refreshed).total_seconds()
        assert lifetime * 0.5 - 0.1 <= gap < lifetime, (gap, lifetime)  # before expiry


async def test_failing_refresh_keeps_the_old_secret_and_warns(
    regcreds: RegCreds,
    reconciler: RegistryCredentialReconciler,
    registry_policy: RegistryPolicyMap,
    kube: KubeClient,
    namespace: str,
) -> None:
    await _allow_plugin(registry_policy)
    name = f"failing-{namespace}"
    plugin = {
        "command": str(PLUGIN),
        "env": [
            {"name": "PLUGIN_CACHE_DURATION", "value": "20s"},
            {"name": "PLUGIN_PASSWORD", "value": "first-password-abc"},
        ],
    }
    await regcreds.create(
        name,
        {
            "registry": "registry.example.com",
            "provider": {"type": "exec", "exec": plugin},
            "secretName": "exec-pull",
            "namespaces": {"names": [namespace]},
            "refresh": {"minInterval": "1s", "retryBackoff": "1s", "maxRetryBackoff": "2s"},
            "warnBefore": "1h",
        },
    )
    await await_for(lambda: _refreshed(regcreds, name, namespace), what="first refresh")
    before = await kube.get("v1", "Secret", "exec-pull", namespace)

    # The plugin now answers with half a response that still carries a password.
    env = [*plugin["env"], {"name": "PLUGIN_MODE", "value": "badjson"}]
    env[1] = {"name": "PLUGIN_PASSWORD", "value": "leaked-password-def"}
    await regcreds.patch_spec(name, {"provider": {"exec": {**plugin, "env": env}}})

    async def warning() -> dict[str, Any] | None:
        st = await regcreds.status(name)
        return st if condition(st, "Expiring").get("status") == "True" else None

    st = await await_for(warning, what="Expiring condition")
    expiring = condition(st, "Expiring")
    assert expiring["reason"] == "RefreshFailing"
    assert "refresh is failing" in expiring["message"] and "BadResponse" in expiring["message"]
    ns = next(n for n in st["namespaces"] if n["namespace"] == namespace)
    assert ns["lastError"].startswith("BadResponse") and ns["lastErrorSince"]
    assert condition(ns, "Ready")["reason"] == "RefreshFailing"  # the old login still works

    after = await kube.get("v1", "Secret", "exec-pull", namespace)
    assert after["data"] == before["data"], "a failed refresh must not touch the Secret"

    async def expiring_event() -> list[dict[str, Any]]:
        return [e for e in await regcreds.events(name) if e["reason"] == "CredentialExpiring"]

    events = await await_for(expiring_event, what="CredentialExpiring event")
    assert events[0]["type"] == "Warning"

    async def expired() -> dict[str, Any] | None:
        st = await regcreds.status(name)
        return st if condition(st, "Expiring").get("reason") == "Expired" else None

    st = await await_for(expired, timeout=40, what="credential expired while failing")
    assert condition(st, "Ready")["status"] == "False"
    assert (await kube.get("v1", "Secret", "exec-pull", namespace))["data"] == before["data"]
    everything = json.dumps([st, await regcreds.events(name)])
    _no_secret_in(everything, "first-password-abc", "leaked-password-def")


async def test_bad_configuration_gives_a_clear_condition(
    regcreds: RegCreds, reconciler: RegistryCredentialReconciler, namespace: str
) -> None:
    base = {"secretName": "pull", "namespaces": {"names": [namespace]}}
    missing = {"type": "basic", "basic": {"secretRef": {"name": f"nope-{namespace}"}}}
    cases = {
        "missing-secret": (
            {**base, "registry": "r.example.com", "provider": missing},
            "SecretNotFound",
            f"Secret {CONTROLLER_NS}/nope-{namespace}",
        ),
        "bad-pattern": (
            {
                **base,
                "registry": "r.example.com:99999",
                "provider": {"type": "exec", "exec": {"command": "/bin/true"}},
            },
            "InvalidSpec",
            "port '99999' is not a number in 1-65535",
        ),
        "no-block": (
            {**base, "registry": "r.example.com", "provider": {"type": "basic"}},
            "InvalidSpec",
            "provider.type is 'basic' but provider.basic is missing",
        ),
    }
    for suffix, (spec, _, _) in cases.items():
        await regcreds.create(f"{suffix}-{namespace}", spec)

    for suffix, (_, reason, words) in cases.items():
        name = f"{suffix}-{namespace}"

        async def ready_false(name: str = name) -> dict[str, Any] | None:
            cond = condition(await regcreds.status(name), "Ready")
            return (
                cond if cond.get("status") == "False" and cond.get("reason") != "Pending" else None
            )

        cond = await await_for(ready_false, what=f"{name} Ready=False")
        assert cond["reason"] == reason, cond
        assert words in cond["message"], cond

    # An unknown provider never gets that far: the CRD schema names the valid ones.
    try:
        await regcreds.create(
            f"unknown-{namespace}",
            {**base, "registry": "r.example.com", "provider": {"type": "gcr"}},
        )
    except ApiError as exc:
        assert exc.status == 422
        assert 'Unsupported value: "gcr"' in exc.message and '"ecr"' in exc.message
    else:
        raise AssertionError("the API server accepted provider type gcr")
