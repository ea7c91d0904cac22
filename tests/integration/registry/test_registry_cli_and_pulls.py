"""``tether registry list/check`` and the kwok image-pull checker, against real servers.

The CLI must show where each credential stands and whether its stored login
works, without ever printing it; the checker must fail a pod like kubelet when
its pull secret is missing and start it once the secret appears.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from fixtures.registry import CONTROLLER_NS, RegCreds, RegistryPolicyMap, RegistryServer
from fixtures.waiting import await_for
from tether.adapters.kube import KubeClient
from tether.controller.registry.reconciler import RegistryCredentialReconciler
from tether.engine.registry.spec import dockerconfigjson
from tether.testenv.imagepull import CHECK_VALUE, SIMULATE_LABEL, ImagePullChecker

TETHER = str(Path(sys.executable).with_name("tether"))


def tether(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TETHER, *args, "--kubeconfig", kubeconfig],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


async def test_registry_list_and_check_never_print_the_credential(
    regcreds: RegCreds,
    reconciler: RegistryCredentialReconciler,
    registry_server: RegistryServer,
    kubeconfig: str,
    namespace: str,
) -> None:
    user, password = registry_server.add_user(f"cli-{namespace}")
    login = f"cli-login-{namespace}"
    await regcreds.secret(CONTROLLER_NS, login, {"username": user, "password": password})
    name = f"cli-{namespace}"
    await regcreds.create(
        name,
        {
            "registry": registry_server.host,
            "provider": {"type": "basic", "basic": {"secretRef": {"name": login}}},
            "secretName": "cli-pull",
            "namespaces": {"names": [namespace]},
        },
    )

    async def ready() -> bool:
        st = await regcreds.status(name)
        return any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", []))

    await await_for(ready, what="credential Ready")

    listed = tether(kubeconfig, "registry", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    mine = next(c for c in json.loads(listed.stdout) if c["name"] == name)
    assert mine["registry"] == registry_server.host and mine["provider"] == "basic"
    assert [n["namespace"] for n in mine["namespaces"]] == [namespace]
    assert mine["expiresIn"] == "-" and mine["status"] == "Ready"
    table = tether(kubeconfig, "registry", "list")
    assert table.returncode == 0 and name in table.stdout and "Ready" in table.stdout

    ok = tether(kubeconfig, "registry", "check", name)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{name} {registry_server.host}: ok: login to" in ok.stdout

    registry_server.rotate_password(user)  # the stored login stops working
    failed = tether(kubeconfig, "registry", "check", name, "-o", "json")
    assert failed.returncode == 1
    result = json.loads(failed.stdout)[0]
    assert not result["ok"] and result["message"] == "unauthorized: authentication required"

    missing = tether(kubeconfig, "registry", "check", "no-such-credential")
    assert missing.returncode == 3 and "not found" in missing.stderr
    for out in (listed, table, ok, failed):
        assert password not in out.stdout + out.stderr


async def test_checker_fails_pods_like_kubelet_then_starts_them_when_the_secret_appears(
    kube: KubeClient, registry_server: RegistryServer, namespace: str
) -> None:
    host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "api",
                "namespace": namespace,
                "labels": {SIMULATE_LABEL: CHECK_VALUE},
            },
            "spec": {
                "imagePullSecrets": [{"name": "ecr-pull"}],
                "containers": [{"name": "api", "image": f"{host}/finance-api:1.4"}],
            },
        }
    )

    async def pod() -> dict[str, Any]:
        return await kube.get("v1", "Pod", "api", namespace)

    def waiting(p: dict[str, Any]) -> dict[str, Any]:
        statuses = (p.get("status") or {}).get("containerStatuses") or [{}]
        return dict((statuses[0].get("state") or {}).get("waiting") or {})

    async with ImagePullChecker(kube, {"*.dkr.ecr.*.amazonaws.com": registry_server.host}):

        async def backing_off() -> dict[str, Any]:
            w = waiting(await pod())
            return w if w.get("reason") == "ImagePullBackOff" else {}

        w = await await_for(backing_off, what="ImagePullBackOff")
        assert "authorization failed: no basic auth credentials" in w["message"]
        api = await kube.resource_for("v1", "Event")
        events, _ = await kube.list(api, namespace)
        reasons = {(e["reason"], e["type"]) for e in events}
        assert ("FailedToRetrieveImagePullSecret", "Warning") in reasons
        failed = [e for e in events if e["reason"] == "Failed"]
        assert failed[0]["message"].startswith(f'Failed to pull image "{host}/finance-api:1.4"')

        config = dockerconfigjson(host, "ci", registry_server.users["ci"])
        await kube.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/dockerconfigjson",
                "metadata": {"name": "ecr-pull", "namespace": namespace},
                "data": {".dockerconfigjson": base64.b64encode(config).decode()},
            }
        )

        async def running() -> bool:
            p = await pod()
            conds = (p.get("status") or {}).get("conditions") or []
            return p["status"].get("phase") == "Running" and any(
                c["type"] == "Ready" and c["status"] == "True" for c in conds
            )

        await await_for(running, what="Pod Running and Ready after the secret appeared")


async def test_registry_policy_shows_what_the_administrator_allows(
    registry_policy: RegistryPolicyMap, kubeconfig: str
) -> None:
    absent = tether(kubeconfig, "registry", "policy")
    assert absent.returncode == 0, absent.stderr
    assert "tether/tether-registry-policy does not exist" in absent.stdout
    assert "execCommands: (none)" in absent.stdout

    await registry_policy.set(
        execCommands=["/usr/libexec/ecr-credential-provider", "relative/plugin"],
        endpointURLs=["https://ecr.vpce.example.com"],
    )
    shown = tether(kubeconfig, "registry", "policy", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["exists"] and info["execCommands"] == ["/usr/libexec/ecr-credential-provider"]
    assert info["endpointURLs"] == ["https://ecr.vpce.example.com"]
    assert info["tokenFiles"] == [] and len(info["problems"]) == 1
