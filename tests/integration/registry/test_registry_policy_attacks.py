"""Attacks through a RegistryCredential, on the real control plane: each one is refused.

Whoever can write a RegistryCredential used to own the controller: an exec
provider ran any program with the controller's environment, ``endpointURL`` with
``webIdentityTokenFile`` posted any file the controller can read to any URL,
``secretRef`` read Secrets in any namespace, and an empty selector copied the
pull Secret everywhere. Each test below is that attack; it now ends with a
PolicyRefused condition naming the field and the rule, and nothing run, read,
posted or written.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fixtures.registry import CONTROLLER_NS, RegCreds, RegistryPolicyMap, condition
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.registry.reconciler import RegistryCredentialReconciler

SETTLE = 2.0  # four passes of the test reconciler (poll 0.5 s)


def _responding_script(tmp_path: Path, name: str, body: str) -> Path:
    """A kubelet plugin that does ``body`` first, then answers like a real one."""
    script = tmp_path / name
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"{body}\n"
        "host = json.load(sys.stdin)['image'].split('/')[0]\n"
        "json.dump({'apiVersion': 'credentialprovider.kubelet.k8s.io/v1',\n"
        "           'kind': 'CredentialProviderResponse', 'cacheKeyType': 'Registry',\n"
        "           'cacheDuration': '1h',\n"
        "           'auth': {host: {'username': 'u', 'password': 'plugin-pw'}}}, sys.stdout)\n"
    )
    script.chmod(0o755)
    return script


async def _refused(regcreds: RegCreds, name: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        ready = condition(await regcreds.status(name), "Ready")
        return ready if ready.get("reason") == "PolicyRefused" else None

    cond = await await_for(probe, what=f"{name} refused by the registry policy")
    assert cond["status"] == "False"
    return cond


async def _owned_secrets(kube: KubeClient, name: str) -> list[dict[str, Any]]:
    api = await kube.resource_for("v1", "Secret")
    items, _ = await kube.list(api, label_selector=f"tether.dev/registry-credential={name}")
    return items


def _exec_spec(command: Path, namespace: str, env: list[dict[str, str]] | None = None) -> Any:
    return {
        "registry": "registry.example.com",
        "provider": {"type": "exec", "exec": {"command": str(command), "env": env or []}},
        "secretName": "exec-pull",
        "namespaces": {"names": [namespace]},
    }


async def test_exec_command_not_on_the_allow_list_is_never_run(
    regcreds: RegCreds,
    reconciler: RegistryCredentialReconciler,
    registry_policy: RegistryPolicyMap,
    kube: KubeClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "pwned"
    evil = _responding_script(tmp_path, "evil.py", f"open({str(marker)!r}, 'w').write('ran')")
    await registry_policy.set(execCommands=["/usr/libexec/some-other-plugin"])
    name = f"evil-exec-{namespace}"
    await regcreds.create(name, _exec_spec(evil, namespace))

    cond = await _refused(regcreds, name)
    assert "provider.exec.command" in cond["message"]
    assert (
        f"{evil} is not in execCommands of ConfigMap tether/tether-registry-policy"
        in (cond["message"])
    )
    await asyncio.sleep(SETTLE)
    assert not marker.exists(), "the refused plugin ran"
    assert await _owned_secrets(kube, name) == []
    events = [e for e in await regcreds.events(name) if e["reason"] == "PolicyRefused"]
    assert events and "provider.exec.command" in events[0]["message"]

    # The administrator allows it: the very same credential now works.
    await registry_policy.set(execCommands=[str(evil)])

    async def written() -> list[dict[str, Any]]:
        return await _owned_secrets(kube, name)

    await await_for(written, what="pull Secret once the command is allowed")
    assert marker.exists()


async def test_allowed_exec_plugin_sees_only_its_own_env(
    regcreds: RegCreds,
    reconciler: RegistryCredentialReconciler,
    registry_policy: RegistryPolicyMap,
    kube: KubeClient,
    namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What a controller's environment holds that a plugin must never see.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "controller-aws-secret")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/token")
    monkeypatch.setenv("TETHER_API_TOKEN", "controller-api-token")
    monkeypatch.setenv("KUBECONFIG", "/etc/tether/kubeconfig")
    monkeypatch.setenv("HOME", "/root")
    dump = tmp_path / "env.json"
    dumper = _responding_script(
        tmp_path, "dump.py", f"json.dump(dict(os.environ), open({str(dump)!r}, 'w'))"
    )
    await registry_policy.set(execCommands=[str(dumper)], execEnv=["PLUGIN_*"])
    name = f"env-exec-{namespace}"
    env = [{"name": "PLUGIN_NOTE", "value": "hello"}]
    await regcreds.create(name, _exec_spec(dumper, namespace, env))

    async def written() -> list[dict[str, Any]]:
        return await _owned_secrets(kube, name)

    await await_for(written, what="pull Secret from the allowed plugin")
    seen = json.loads(dump.read_text())
    seen.pop("LC_CTYPE", None)  # python's own locale coercion (PEP 538), not ours
    assert seen == {"PLUGIN_NOTE": "hello"}


async def test_exec_env_that_loads_code_is_refused_even_when_the_command_is_allowed(
    regcreds: RegCreds,
    reconciler: RegistryCredentialReconciler,
    registry_policy: RegistryPolicyMap,
    kube: KubeClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    plugin = _responding_script(tmp_path, "plugin.py", f"open({str(marker)!r}, 'w')")
    await registry_policy.set(execCommands=[str(plugin)], execEnv=["*"])
    name = f"preload-{namespace}"
    env = [{"name": "LD_PRELOAD", "value": "/var/cache/tether/repos/evil.so"}]
    await regcreds.create(name, _exec_spec(plugin, namespace, env))
    cond = await _refused(regcreds, name)
    assert "provider.exec.env[0].name: LD_PRELOAD is never allowed" in cond["message"]
    await asyncio.sleep(SETTLE)
    assert not marker.exists()
    assert await _owned_secrets(kube, name) == []


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str] = []

    def _record(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode(errors="replace")
        self.seen.append(f"{self.command} {self.path} {body}")
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST = _record

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server standing in for the attacker's; yields (url, requests seen)."""
    seen: list[str] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


async def test_endpoint_url_and_token_file_not_allowed_post_nothing(
    regcreds: RegCreds,
    reconciler: RegistryCredentialReconciler,
    registry_policy: RegistryPolicyMap,
    kube: KubeClient,
    listener: tuple[str, list[str]],
    namespace: str,
    tmp_path: Path,
) -> None:
    url, seen = listener
    token_file = tmp_path / "controller-token"
    token_file.write_text("controller-service-account-token")
    name = f"exfil-{namespace}"
    await regcreds.create(
        name,
        {
            "registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "provider": {
                "type": "ecr",
                "ecr": {
                    "endpointURL": url,
                    "roleARN": "arn:aws:iam::123456789012:role/attacker",
                    "webIdentityTokenFile": str(token_file),
                },
            },
            "secretName": "ecr-pull",
            "namespaces": {"names": [namespace]},
        },
    )
    cond = await _refused(regcreds, name)  # no policy at all: neither is allowed
    assert "provider.ecr.endpointURL" in cond["message"]
    assert "provider.ecr.webIdentityTokenFile" in cond["message"]
    assert "tether-registry-policy does not exist" in cond["message"]

    # The endpoint alone being allowed is not enough: the token file is still refused.
    await registry_policy.set(endpointURLs=[url])

    async def only_token_file() -> dict[str, Any] | None:
        ready = condition(await regcreds.status(name), "Ready")
        return ready if "endpointURL" not in ready.get("message", "x") else None

    cond = await await_for(only_token_file, what="only the token file refused")
    assert cond["reason"] == "PolicyRefused"
    assert "provider.ecr.webIdentityTokenFile" in cond["message"]
    await asyncio.sleep(SETTLE)
    assert seen == [], "the controller sent a request to an endpoint that was not allowed"
    assert await _owned_secrets(kube, name) == []
    assert "controller-service-account-token" not in json.dumps(await regcreds.get(name))


async def test_secret_ref_in_another_namespace_is_refused_and_not_read(
    regcreds: RegCreds,
    reconciler: RegistryCredentialReconciler,
    kube: KubeClient,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Team B's registry login, in team B's namespace.
    await regcreds.secret(namespace, "team-b-login", {"username": "b", "password": "b-secret-pw"})
    read: list[str] = []
    real_request = reconciler.kube.request

    async def spy(method: str, path: str, **kwargs: Any) -> Any:
        if "/secrets" in path and method == "GET":
            read.append(path)
        return await real_request(method, path, **kwargs)

    monkeypatch.setattr(reconciler.kube, "request", spy)
    name = f"steal-{namespace}"
    await regcreds.create(
        name,
        {
            "registry": "registry.example.com",
            "provider": {
                "type": "basic",
                "basic": {"secretRef": {"name": "team-b-login", "namespace": namespace}},
            },
            "secretName": "stolen-pull",
            "namespaces": {"names": ["default"]},
        },
    )
    cond = await _refused(regcreds, name)
    assert "provider.basic.secretRef.namespace" in cond["message"]
    assert f"controller's namespace {CONTROLLER_NS}, not {namespace}" in cond["message"]
    await asyncio.sleep(SETTLE)
    assert not [p for p in read if f"/namespaces/{namespace}/" in p], read
    assert await _owned_secrets(kube, name) == []
    assert await kube.get_or_none("v1", "Secret", "stolen-pull", "default") is None
    assert "b-secret-pw" not in json.dumps(await regcreds.get(name))


@pytest.mark.parametrize("selector", [{}, {"matchLabels": {}}])
async def test_empty_selector_is_refused_and_no_secret_is_created_anywhere(
    regcreds: RegCreds,
    reconciler: RegistryCredentialReconciler,
    kube: KubeClient,
    namespace: str,
    selector: dict[str, Any],
) -> None:
    login = f"everywhere-login-{namespace}"
    await regcreds.secret(CONTROLLER_NS, login, {"username": "u", "password": "p-everywhere"})
    name = f"everywhere-{namespace}-{len(selector)}"
    await regcreds.create(
        name,
        {
            "registry": "registry.example.com",
            "provider": {"type": "basic", "basic": {"secretRef": {"name": login}}},
            "secretName": "everywhere-pull",
            "namespaces": {"selector": selector},
        },
    )
    cond = await _refused(regcreds, name)
    assert "namespaces.selector" in cond["message"] and "every namespace" in cond["message"]
    await asyncio.sleep(SETTLE)
    assert await _owned_secrets(kube, name) == []
    for ns in ("default", "kube-system", namespace):
        assert await kube.get_or_none("v1", "Secret", "everywhere-pull", ns) is None


async def test_policy_configmap_deployed_by_an_application_is_ignored(
    regcreds: RegCreds,
    reconciler: RegistryCredentialReconciler,
    registry_policy: RegistryPolicyMap,
    kube: KubeClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    plugin = _responding_script(tmp_path, "plugin.py", f"open({str(marker)!r}, 'w')")
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "tether-registry-policy",
                "namespace": CONTROLLER_NS,
                "labels": {"app.tether.dev/instance": "team-a"},
            },
            "data": {"execCommands": f"{plugin}\n"},
        },
        field_manager="tether",
    )
    name = f"git-policy-{namespace}"
    await regcreds.create(name, _exec_spec(plugin, namespace))
    cond = await _refused(regcreds, name)
    assert "deployed by Application team-a" in cond["message"]
    await asyncio.sleep(SETTLE)
    assert not marker.exists()
